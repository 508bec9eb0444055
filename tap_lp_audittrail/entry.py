"""The console scripts: SIGINT and SIGTERM are taken over before the SDK's imports.

Those imports take a good part of a second; a signal in that time ends the run as any other
(stopping.py), not with a KeyboardInterrupt traceback or the default handler.
"""

from __future__ import annotations

from typing import NoReturn

from tap_lp_audittrail.stopping import STOP


def tap() -> NoReturn:
    """`tap-lp-audittrail`."""
    STOP.install()
    from tap_lp_audittrail.tap import main

    main()


def airbyte() -> NoReturn:
    """`source-lp-audittrail`."""
    STOP.install()
    from tap_lp_audittrail.airbyte.commands import main

    main()
