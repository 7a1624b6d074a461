"""``berth scan``: match an image's packages against a vulnerability database in the OSV format.

``osv`` reads and validates records, ``database`` loads them from a directory, a zip or a registry
artifact (``vulndb``), ``ecosystems`` says which records speak of a package and by which version
rules, ``ranges`` decides whether a version is affected, ``severity`` rates a record, ``match``
makes the findings, ``ignore`` applies accepted findings and ``report`` writes table, JSON or SARIF.
"""
