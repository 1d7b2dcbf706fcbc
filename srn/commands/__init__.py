"""Subcommands of the ``srn`` command line that live in their own module.

Each module offers ``add_parser(subparsers)``, which registers the subcommand on an
``argparse`` sub-parser collection and sets ``func`` to the function that runs it (returning the
exit status: 0 done, 1 the input data is invalid, 2 a usage error).
"""
