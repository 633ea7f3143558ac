"""One module per `radiowmhseg` subcommand (the two tumour importers share one): add_parser(subparsers, name)
sets args.run = run."""
