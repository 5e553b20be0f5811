"""The ``shwatch`` command: parse arguments, load settings, hand over to one command.

    shwatch [--config PATH] poll [--once] [--json]
    shwatch [--config PATH] sources [check [ID]]
    shwatch [--config PATH] match [--json] (TEXT | --file PATH)
    shwatch [--config PATH] run
    shwatch [--config PATH] digest --chat ID [--send]
    shwatch [--config PATH] db upgrade

Exit codes: 0 done, 1 the command failed at run time, 2 bad usage or bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from bot.cli.init import write_starter_config
from bot.store.errors import StoreUnavailable
from monitors.wording import counted
from config.settings import ConfigError, load_settings

log = logging.getLogger("shwatch")


def _global_options(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    """Options every command takes, before or after its name. After it, an option left out
    must not undo one given before (argparse.SUPPRESS keeps the earlier value)."""
    keep = {"default": argparse.SUPPRESS} if after_command else {}
    parser.add_argument(
        "--config", metavar="PATH",
        help="TOML settings file (default: $SHWATCH_CONFIG, else ./shwatch.toml when present, else built-in defaults)",
        **keep,
    )
    parser.add_argument(
        "--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level (overrides log_level)", **keep
    )
    parser.add_argument("-v", "--verbose", action="count", help="more log lines (-v INFO, -vv DEBUG)", **keep)
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors in the log", **keep)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shwatch",
        description="Watch Shanghai's official sources for the Online New Economy plan's fields.",
    )
    parser.add_argument("--version", action="version", version=f"shwatch {_version()}")
    _global_options(parser, after_command=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, after_command=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, parents=[common])

    poll = command("poll", "fetch the sources and show new items")
    poll.add_argument("--once", action="store_true", help="poll every source once and exit")
    poll.add_argument("--json", action="store_true", help="one JSON object per new item per line")

    sources = command(
        "sources", "list sources and their health; `sources check [ID]` tests them; `sources try URL` tries a page"
    )
    sources.add_argument(
        "action", nargs="?", choices=["check", "try"],
        help="check: fetch list pages once, store nothing; try: what each list parser finds on URL, and its [[sources]] table",
    )
    sources.add_argument("source_id", nargs="?", metavar="ID|URL", help="check: only this source; try: the page to try")

    match = command("match", "show which fields a text is about or mentions, and the terms that say so")
    match.add_argument("--json", action="store_true", help="print topics, mentions, matched and scores as JSON")
    match.add_argument("--file", metavar="PATH", help="read the text from a file")
    match.add_argument("text", nargs="?", help="the text to match")

    run = command("run", "run the service: scheduled polling, chat bots, alerts, digests and the web app")
    run.add_argument(
        "--deliver-only", action="store_true",
        help="only send queued deliveries (an extra delivery worker beside one full service; PostgreSQL only)",
    )

    command("web", "serve the web app alone (read-only) against the configured database")

    digest = command("digest", "show (or send) the digest a chat would get now")
    digest.add_argument("--chat", required=True, metavar="ID", help="chat id (Telegram chat id or channel:address)")
    digest.add_argument("--send", action="store_true", help="queue and send it instead of printing")

    db = command("db", "database maintenance: `shwatch db upgrade` applies the schema migrations")
    db.add_argument("action", nargs="?", choices=["upgrade"], help="upgrade: apply the schema migrations")

    init = command("init", "write a commented starter ./shwatch.toml (every setting with its default)")
    init.add_argument("--force", action="store_true", help="overwrite an existing shwatch.toml")
    init.add_argument("--path", default="shwatch.toml", metavar="PATH", help="where to write it (default ./shwatch.toml)")
    return parser


def _version() -> str:
    try:
        return metadata.version("shwatch")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _log_level(args: argparse.Namespace) -> str | None:
    if args.quiet:
        return "ERROR"
    verbose = args.verbose or 0
    if verbose:
        return "DEBUG" if verbose > 1 else "INFO"
    return args.log_level


async def _dispatch(args: argparse.Namespace, settings) -> int:
    # Each command loads only its own modules (the CLI's one exception to imports at the top):
    # `shwatch match` starts without the database stack, `shwatch run` without terminal tables.
    if args.command == "sources" and args.action == "try":  # needs no database
        if not args.source_id:
            print("shwatch: sources try needs a URL / 需要提供网址", file=sys.stderr)
            return 2
        from monitors.cli import cmd_sources_try

        return await cmd_sources_try(settings, args.source_id)
    if args.command == "match":
        from monitors.match_cmd import cmd_match

        return await cmd_match(settings, text=args.text, file=args.file, as_json=args.json)
    from bot.cli.store import cmd_db_upgrade, leader_line_of, prepare_store, probe_store

    await probe_store(settings.database_url)
    if args.command in ("poll", "sources"):
        await prepare_store(settings)
    if args.command == "poll":
        from monitors.cli import cmd_poll

        return await cmd_poll(settings, once=args.once, as_json=args.json)
    if args.command == "sources":
        from monitors.cli import cmd_sources

        code = await cmd_sources(settings, check=args.action == "check", source_id=args.source_id)
        if args.action is None and code == 0:
            print(await leader_line_of(settings))  # the monitor knows nothing of leases
        return code
    if args.command == "run":
        from bot.service import run_service

        if args.deliver_only and not settings.database_url.startswith("postgres"):
            print(
                "shwatch: run --deliver-only needs PostgreSQL (database_url = \"postgresql+asyncpg://...\"): "
                "on SQLite one service process does all the sending",
                file=sys.stderr,
            )
            return 2
        return await run_service(settings, deliver_only=args.deliver_only)
    if args.command == "web":
        from bot.web.app import cmd_web

        return await cmd_web(settings)
    if args.command == "digest":
        from bot.cli.digest import cmd_digest

        return await cmd_digest(settings, chat=args.chat, send=args.send)
    if args.command == "db":
        code = await cmd_db_upgrade(settings)
        rescored = await prepare_store(settings)
        if rescored:
            print(f"{counted(rescored, 'stored item')} scored again with the current tagging rules")
        return code
    raise AssertionError(args.command)


def main(argv: Sequence[str] | None = None) -> int:
    from bot.logs import setup_logging

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "match":
        if args.text is not None and args.file is not None:
            parser.error("match takes TEXT or --file PATH, not both")
        if args.text is None and args.file is None:
            parser.error("match needs a TEXT to look at, e.g. shwatch match \"推进互联网医院建设\" (or --file PATH)")
        if args.text is not None and not args.text.strip():
            parser.error("match: the text is empty; give the words to look at")
    if args.command == "db" and args.action is None:
        parser.error("db needs an action: `shwatch db upgrade` applies the schema migrations")
    if args.command == "init":
        return write_starter_config(Path(args.path), force=args.force)
    level = _log_level(args)
    setup_logging(None, level or "WARNING")
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"shwatch: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings, level)
    try:
        return asyncio.run(_dispatch(args, settings))
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        print(f"shwatch: configuration error: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"shwatch: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # the last line of defence: one readable line, the trace in the debug log
        log.debug("command %s failed", args.command, exc_info=True)  # -vv shows it
        print(f"shwatch: {args.command} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
