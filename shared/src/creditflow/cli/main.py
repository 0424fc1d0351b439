"""creditflow: the command line of operators and integrators (docs/cli.md).

  operator
    creditflow token create --institution uni-tartu --person mari@ut.ee --role registrar [--expires 30d]
    creditflow token create --operator --person ops@example.org
    creditflow token list [--institution uni-tartu]
    creditflow token revoke JTI --reason "left the registry office"
    creditflow apply -f world.yaml [--dry-run]     institutions, achievements, programmes, policies, agreements
    creditflow kafka-principal create|rotate|revoke --institution uni-tartu   its Kafka login, topic and ACLs
    creditflow dead-letters list|show ID|redrive ID|discard ID --reason R     what consumers could not process
    creditflow topics describe [TOPIC ...] | tail TOPIC [-n 20] [--follow]
    creditflow replay                              rebuild learner records from the event log
    creditflow institution register --id ID --name NAME --country CC --framework ects
  integrator (an institution's token, CREDITFLOW_TOKEN, or its own Kafka login)
    creditflow institution show ID                 creditflow achievement publish|list
    creditflow programme publish|list              creditflow policy publish|list
    creditflow agreement publish|list              creditflow enrol --learner L --programme P --institution I
    creditflow award --file awards.csv | --learner L --achievement A     with progress
    creditflow revoke CREDENTIAL_ID --reason R     creditflow verify credential.json
    creditflow completion bash|zsh|tcsh

Every command reads the settings the services read (CREDITFLOW_* variables; docs/cli.md, "Settings").
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Only the standard library is imported here: what a subcommand needs is imported when it runs.
from . import dead_letters  # noqa: E402 - itself imports only the standard library until a command runs

ROLES = ("registrar", "issuer-integration", "reviewer")  # institution roles; the operator is --operator
FRAMEWORKS = ("ects", "uk-cats", "scqf", "nzqf", "us-semester", "aqf-hours")  # creditflow.events.CreditFramework
# Published on an institution's inbound topic from a file: subcommand -> section of a world file
FILED = {"programme": "programmes", "policy": "policies", "agreement": "agreements"}
TOKEN_HELP = "the token to call the issuer with (CREDITFLOW_TOKEN)"
ISSUER_HELP = ("the issuer (default: CREDITFLOW_ISSUER_URL, else CREDITFLOW_ISSUER_PUBLIC_URL, else "
               "http://127.0.0.1:$CREDITFLOW_ISSUER_HTTP_PORT, port 8101 by default)")


def _who() -> str:
    import getpass

    return getpass.getuser()


def _token_argument(parser: argparse.ArgumentParser, role: str) -> None:
    parser.add_argument("--token", default=os.environ.get("CREDITFLOW_TOKEN"), help=f"{TOKEN_HELP}: {role}")


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

    apply = commands.add_parser("apply", help="publish the institutions, achievements, programmes, policies and "
                                "agreements of a YAML or JSON file (operator); again: publishes only what changed")
    apply.add_argument("-f", "--file", type=Path, required=True, help="the world file (docs/cli.md; examples/)")
    apply.add_argument("--dry-run", action="store_true", help="validate and say what would be published; send nothing")
    apply.add_argument("--by", default=None, help="who applies it, for the token registry (default: your user name)")

    institution = commands.add_parser("institution", help="register an institution (operator) or show its profile")
    actions = institution.add_subparsers(dest="action", required=True, metavar="ACTION")
    register = actions.add_parser("register", help="register it at the issuer, which makes its signing keys")
    register.add_argument("--id", required=True, dest="institution_id")
    register.add_argument("--name", required=True)
    register.add_argument("--country", required=True, help="ISO 3166-1 alpha-2, e.g. EE")
    register.add_argument("--framework", action="append", required=True, choices=FRAMEWORKS, dest="frameworks",
                          help="a credit framework it awards in; repeat for several")
    _token_argument(register, "the operator's")
    show = actions.add_parser("show", help="the issuer's public profile of the institution, with its keys")
    show.add_argument("institution_id")

    achievement = commands.add_parser("achievement", help="publish what an institution awards, or list it")
    actions = achievement.add_subparsers(dest="action", required=True, metavar="ACTION")
    publish = actions.add_parser("publish", help="publish an achievement from a YAML or JSON file (the issuer's API)")
    publish.add_argument("-f", "--file", type=Path, required=True)
    _token_argument(publish, "the institution's issuer-integration token")
    listed = actions.add_parser("list", help="the achievements the issuer published (read as the Kafka admin)")
    listed.add_argument("--institution")

    for name, section in FILED.items():
        filed = commands.add_parser(name, help=f"publish a {name} on the institution's inbound topic, or list them")
        actions = filed.add_subparsers(dest="action", required=True, metavar="ACTION")
        publish = actions.add_parser("publish", help=f"publish a {name} from a YAML or JSON file")
        publish.add_argument("-f", "--file", type=Path, required=True)
        listed = actions.add_parser("list", help=f"the {section} the owning service accepted (as the Kafka admin)")
        listed.add_argument("--institution")

    enrol = commands.add_parser("enrol", help="enrol a learner in a programme (the institution's inbound topic)")
    enrol.add_argument("--learner", required=True)
    enrol.add_argument("--programme", required=True)
    enrol.add_argument("--institution", required=True)
    enrol.add_argument("--started-on", default=None, help="YYYY-MM-DD: selects the programme version (default: today)")

    award = commands.add_parser("award", help="award credentials: one, or a CSV / JSON-lines file with progress")
    what = award.add_mutually_exclusive_group(required=True)
    what.add_argument("--file", type=Path, help="CSV with a header, or JSON lines: learner_id, achievement_id, ...")
    what.add_argument("--learner", help="one award: the learner")
    award.add_argument("--achievement", help="one award: the achievement (required with --learner)")
    award.add_argument("--grade")
    award.add_argument("--request-id", help="one award: its idempotency key (default: derived from the award)")
    award.add_argument("--format", choices=("auto", "csv", "jsonl"), default="auto",
                       help="the file's format; auto (default): JSON lines when it starts with '{', else CSV")
    award.add_argument("--url", default=None, help=ISSUER_HELP)
    _token_argument(award, "an issuer-integration token")

    revoke = commands.add_parser("revoke", help="revoke a credential the institution issued (its status list)")
    revoke.add_argument("credential_id")
    revoke.add_argument("--reason", required=True)
    _token_argument(revoke, "the institution's issuer-integration token")

    verify = commands.add_parser("verify", help="verify a credential file with the issuer (POST /verify)")
    verify.add_argument("file", type=Path, help="a JSON credential or a compact JWS")
    verify.add_argument("--url", default=None, help=ISSUER_HELP)

    commands.add_parser("replay", help="rebuild learner-record's records from offset 0 (learner-record's settings)")

    principal = commands.add_parser("kafka-principal", help="an institution's Kafka login (operator, as Kafka admin)")
    principal.add_argument("action", choices=["create", "rotate", "revoke"])
    principal.add_argument("--institution", required=True, help="the institution the principal publishes for")
    principal.add_argument("--password-file", type=Path, help="write the new password here instead of printing it")

    dead_letters.add_parser(commands)
    topics = commands.add_parser("topics", help="what the topics hold (as the Kafka admin)")
    actions = topics.add_subparsers(dest="action", required=True, metavar="ACTION")
    describe = actions.add_parser("describe", help="each topic with its partitions and records")
    describe.add_argument("topics", nargs="*", metavar="TOPIC", help="default: every topic")
    tail = actions.add_parser("tail", help="a topic's last records as JSON lines, oldest first")
    tail.add_argument("topic")
    tail.add_argument("-n", "--lines", type=int, default=10, help="how many (default 10)")
    tail.add_argument("-f", "--follow", action="store_true", help="then print each new record until Ctrl-C")

    completion = commands.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=["bash", "zsh", "tcsh"])
    return parser


def _issuer_url(args: argparse.Namespace) -> str:
    from creditflow.runtime.settings import service_url

    return args.url or service_url("issuer", os.environ)


def _needs_token(parser: argparse.ArgumentParser, args: argparse.Namespace, what: str) -> None:
    if not args.token:
        parser.error(f"{args.command} needs --token or CREDITFLOW_TOKEN ({what})")


def main(argv: list[str] | None = None) -> int:  # noqa: C901 - one branch per command, each a call
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
    if args.command == "apply":
        from .apply import apply

        return apply(args.file, os.environ, args.by or _who(), args.dry_run)
    if args.command in ("institution", "achievement", "revoke", "enrol", *FILED):
        return _registry(parser, args)
    if args.command == "award":
        _needs_token(parser, args, "an issuer-integration token")
        from . import award

        if args.file:
            return award.bulk(args.file, _issuer_url(args), args.token, args.format)
        if not args.achievement:
            parser.error("--learner needs --achievement")
        return award.one(args.learner, args.achievement, args.grade, args.request_id, _issuer_url(args), args.token)
    if args.command == "verify":
        from .award import verify

        return verify(args.file, _issuer_url(args))
    if args.command == "replay":
        from .replay import replay

        return replay()
    if args.command == "dead-letters":
        return dead_letters.run(args)
    if args.command == "kafka-principal":
        from .kafka_principal import kafka_principal

        return kafka_principal(args.action, args.institution, args.password_file)
    if args.command == "topics":
        from . import topics

        return topics.describe(args.topics) if args.action == "describe" else topics.tail(args.topic, args.lines,
                                                                                         args.follow)
    import shtab

    print(shtab.complete(parser, shell=args.shell))
    return 0


def _registry(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "enrol":
        from datetime import date

        try:
            started = date.fromisoformat(args.started_on) if args.started_on else date.today()
        except ValueError:
            parser.error(f"--started-on: {args.started_on!r} is not a date YYYY-MM-DD")
    from . import registry

    if args.command == "institution":
        if args.action == "show":
            return registry.show_institution(args.institution_id)
        _needs_token(parser, args, "the operator's")
        return registry.register_institution({"institution_id": args.institution_id, "name": args.name,
                                              "country": args.country, "credit_frameworks": args.frameworks},
                                             args.token)
    if args.command == "revoke":
        _needs_token(parser, args, "the institution's issuer-integration token")
        return registry.revoke(args.credential_id, args.reason, args.token)
    if args.command == "enrol":
        return registry.enrol(args.learner, args.programme, args.institution, started)
    section = FILED.get(args.command, "achievements")
    if args.action == "list":
        return registry.listing(section, args.institution)
    if args.command == "achievement":
        _needs_token(parser, args, "the institution's issuer-integration token")
        return registry.publish_achievement(args.file, args.token)
    return registry.publish_file(section, args.file)


if __name__ == "__main__":
    sys.exit(main())
