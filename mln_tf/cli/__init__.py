"""Every command line of mln_tf (``mln-pose`` and its subcommands); nothing outside this package imports it."""
