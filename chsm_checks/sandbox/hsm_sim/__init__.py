"""Simulators of the Cloud HSM utilities, backed by a running sandbox.

``python -m chsm_checks.sandbox.hsm_sim mgmt --sandbox URL <cfg>`` behaves like
``azcloudhsm_mgmt_util <cfg>``; ``python -m chsm_checks.sandbox.hsm_sim util --sandbox URL --cfg <cfg>``
like ``azcloudhsm_util``. A served sandbox writes wrappers named after the real tools (see
:mod:`chsm_checks.sandbox.hsm_client`). What they print is the contract of docs/hsm-utilities.md.
"""
