"""One module per `radiowmhseg` subcommand: add_parser(subparsers, name) sets args.run = run."""
