"""creditflow: the command line of operators and integrators.

    creditflow token create --institution uni-tartu --person mari@ut.ee --role registrar [--expires 30d]
    creditflow token create --operator --person ops@example.org
    creditflow token list [--institution uni-tartu]
    creditflow token revoke JTI --reason "left the registry office"
    creditflow award --file awards.csv            bulk awards from CSV or JSON lines, with progress
    creditflow award --learner L --achievement A  one award
    creditflow verify credential.json             valid, revoked, invalid or unknown, with the reasons
    creditflow replay                             rebuild learner records from the event log
    creditflow kafka-principal create|rotate|revoke --institution uni-tartu   its Kafka login, topic and ACLs
    creditflow dead-letters list|show ID|redrive ID|discard ID --reason R     what consumers could not process
    creditflow completion bash > /etc/bash_completion.d/creditflow

Every command reads the settings the services read (CREDITFLOW_* variables; docs/operations.md, "The command line").
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Only the standard library is imported here: what a subcommand needs is imported when it runs.
from . import dead_letters  # noqa: E402 - itself imports only the standard library until a command runs

ROLES = ("registrar", "issuer-integration", "reviewer")  # institution roles; the operator is --operator
# --url defaults to None: award.issuer_url() then reads the settings the issuer itself reads (docs/operations.md).
ISSUER_URL_HELP = ("the issuer (default: CREDITFLOW_ISSUER_URL, else CREDITFLOW_ISSUER_PUBLIC_URL, else "
                   "http://127.0.0.1:$CREDITFLOW_ISSUER_HTTP_PORT, port 8101 by default)")


def _who() -> str:
    import getpass

    return getpass.getuser()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="creditflow", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    token = commands.add_parser("token", help="create, list and revoke tokens (docs/decisions/0002)")
    actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="sign a token and record it in the registry; prints the token")
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument("--institution", help="the institution the holder acts for")
    who.add_argument("--operator", action="store_true", help="the platform operator (acts for no institution)")
    create.add_argument("--person", required=True, help="who holds it: an e-mail, or an integration's name")
    create.add_argument("--name", help="display name (default: --person)")
    create.add_argument("--role", action="append", choices=ROLES, default=[],
                        help="repeat for several; required with --institution")
    create.add_argument("--expires", default="30d", help="lifetime: 30d (default), 12h, 90m; at most 365d")
    create.add_argument("--by", default=None, help="who creates it, for the registry (default: your user name)")
    listing = actions.add_parser("list", help="the tokens in the registry, with their status")
    listing.add_argument("--institution", help="only this institution's tokens")
    revoke = actions.add_parser("revoke", help="revoke a token at every service")
    revoke.add_argument("jti", help="the token's id (token list shows it)")
    revoke.add_argument("--reason", required=True)
    revoke.add_argument("--by", default=None, help="who revokes it (default: your user name)")

    award = commands.add_parser("award", help="award credentials: one, or a CSV / JSON-lines file with progress")
    what = award.add_mutually_exclusive_group(required=True)
    what.add_argument("--file", type=Path, help="CSV with a header, or JSON lines: learner_id, achievement_id, ...")
    what.add_argument("--learner", help="one award: the learner")
    award.add_argument("--achievement", help="one award: the achievement (required with --learner)")
    award.add_argument("--grade")
    award.add_argument("--request-id", help="one award: its idempotency key (default: derived from the award)")
    award.add_argument("--format", choices=("auto", "csv", "jsonl"), default="auto",
                       help="the file's format; auto (default): JSON lines when it starts with '{', else CSV")
    award.add_argument("--url", help=ISSUER_URL_HELP)
    award.add_argument("--token", default=os.environ.get("CREDITFLOW_TOKEN"),
                       help="an issuer-integration token (CREDITFLOW_TOKEN)")

    verify = commands.add_parser("verify", help="verify a credential file with the issuer (POST /verify)")
    verify.add_argument("file", type=Path, help="a JSON credential or a compact JWS")
    verify.add_argument("--url", help=ISSUER_URL_HELP)

    commands.add_parser("replay", help="rebuild learner-record's records from offset 0 (learner-record's settings)")

    principal = commands.add_parser("kafka-principal", help="an institution's Kafka login (operator, as Kafka admin)")
    principal.add_argument("action", choices=["create", "rotate", "revoke"])
    principal.add_argument("--institution", required=True, help="the institution the principal publishes for")
    principal.add_argument("--password-file", type=Path, help="write the new password here instead of printing it")

    dead_letters.add_parser(commands)

    completion = commands.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=["bash", "zsh", "tcsh"])
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "token":
        from . import tokens

        if args.action == "create":
            if args.operator and args.role:
                parser.error("--operator takes no --role: the operator holds the operator role only")
            if args.institution and not args.role:
                parser.error("--institution needs at least one --role")
            return tokens.create(args.institution, args.person, args.name, args.role, args.expires,
                                 args.by or _who())
        if args.action == "list":
            return tokens.listing(args.institution)
        return tokens.revoke(args.jti, args.reason, args.by or _who())
    if args.command == "award":
        if not args.token:
            parser.error("award needs --token or CREDITFLOW_TOKEN (an issuer-integration token)")
        from . import award

        if args.file:
            return award.bulk(args.file, args.url, args.token, args.format)
        if not args.achievement:
            parser.error("--learner needs --achievement")
        return award.one(args.learner, args.achievement, args.grade, args.request_id, args.url, args.token)
    if args.command == "verify":
        from .award import verify

        return verify(args.file, args.url)
    if args.command == "replay":
        from .replay import replay

        return replay()
    if args.command == "dead-letters":
        return dead_letters.run(args)
    if args.command == "kafka-principal":
        from .kafka_principal import kafka_principal

        return kafka_principal(args.action, args.institution, args.password_file)
    import shtab

    print(shtab.complete(parser, shell=args.shell))
    return 0


if __name__ == "__main__":
    sys.exit(main())
