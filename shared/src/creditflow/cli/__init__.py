"""`creditflow`: the one command line of operators and integrators. Subcommands import what they need when they run,
so `--help` and `token create` start fast (test_cli.py checks which modules `--help` imports)."""
