"""Entry point: ``python -m chsm_checks.sandbox.hsm_sim {mgmt,util} --sandbox URL ...``."""

from __future__ import annotations

import argparse
import sys

import httpx

from chsm_checks.sandbox.hsm_sim import key_util, mgmt_util


def main(argv: list[str] | None = None) -> int:
    """Run one simulator; its exit status is the tool's."""
    parser = argparse.ArgumentParser(prog="python -m chsm_checks.sandbox.hsm_sim")
    tools = parser.add_subparsers(dest="tool", required=True)
    mgmt = tools.add_parser("mgmt", help="azcloudhsm_mgmt_util")
    mgmt.add_argument("--sandbox", required=True, help="the sandbox's base URL")
    mgmt.add_argument("--ca-file", help="the CA an https sandbox's certificate is checked against")
    mgmt.add_argument("cfg", help="path to azcloudhsm_resource.cfg")
    util = tools.add_parser("util", help="azcloudhsm_util")
    util.add_argument("--sandbox", required=True, help="the sandbox's base URL")
    util.add_argument("--ca-file", help="the CA an https sandbox's certificate is checked against")
    util.add_argument("--cfg", required=True, help="the client daemon's azcloudhsm_resource.cfg")
    args = parser.parse_args(argv)
    try:
        if args.tool == "mgmt":
            return mgmt_util.run(args.sandbox, args.cfg, args.ca_file)
        return key_util.run(args.sandbox, args.cfg, args.ca_file)
    except httpx.HTTPError as exc:
        # Not something the real tool prints: the sandbox behind the simulator has gone away.
        print(f"hsm_sim: the sandbox at {args.sandbox} did not answer: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
