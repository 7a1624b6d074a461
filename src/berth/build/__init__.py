"""``berth build``: Containerfiles (Dockerfiles) to OCI images.

The package sits above the engine and below the CLI. ``lines`` reads a Containerfile's text
(parser directives, continuations, comments, heredocs), ``instructions`` turns each line into a
typed record, ``expand`` substitutes ARG and ENV values into words and ``containerfile`` groups
the instructions into stages. ``ignore`` holds the ``.containerignore`` rules and ``context`` the
build context they filter.
"""
