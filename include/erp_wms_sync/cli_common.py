"""Helpers the CLI's sub-command modules share: the options naming one integration and its ledger, and the ledger
URL (migrated first, so a command never meets an older schema)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["add_integration_options", "migrated_url", "one_integration"]


def add_integration_options(parser: argparse.ArgumentParser) -> None:
    """``--integration`` (required), ``--integrations-dir`` and ``--ledger-url``."""
    parser.add_argument("--integration", required=True)
    parser.add_argument("--integrations-dir", default=None)
    parser.add_argument("--ledger-url", default=None)


def one_integration(args: argparse.Namespace, integration: Callable[[argparse.Namespace], Any]) -> Any:
    """The one integration ``--integration`` names, loaded through the CLI's YAML loader."""
    args.integration = [args.integration] if isinstance(args.integration, str) else args.integration
    return integration(args)[0]


def migrated_url(args: argparse.Namespace, ledger_url: Callable[[str | None], str]) -> str:
    """The ledger URL of ``--ledger-url`` (or the default), its migrations applied."""
    from erp_wms_sync.ledger.db import ensure_migrated

    url = ledger_url(args.ledger_url)
    ensure_migrated(url)
    return url
