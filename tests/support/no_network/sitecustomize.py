# Put on PYTHONPATH by tests that prove a run touches no network: any connect() fails loudly.
import socket


def _refuse(self, address, *args, **kwargs):
    raise OSError(f"network is unavailable in this test (connect to {address!r})")


socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
