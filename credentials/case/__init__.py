"""CASE 1.1 (1EdTech Competencies and Academic Standards Exchange) packages.

``export_package`` writes a framework with its items, associations and the
published rubrics that judge its items as a CFPackage; ``import_package`` reads
one back. An import checks the whole package before writing anything and writes
in bulk, so a package of tens of thousands of items stays fast and small.

- ``uris``: our resolvable URIs and how a package's URIs are matched
- ``schemas``: the package's shape (marshmallow)
- ``export``: CFDocument, CFItem, CFAssociation and CFRubric records; the package
- ``queries``: look-ups behind the API and the resolvable URIs
- ``plan``: what an import works out before writing; resolving links to nodes
- ``validation``: the checks that build that plan
- ``importer``: the writes
"""

from credentials.case.export import (
    cf_document,
    cf_item,
    cf_rubric,
    document_link,
    export_package,
    item_finder,
    tree_association_identifier,
)
from credentials.case.importer import import_package
from credentials.case.plan import InvalidCasePackage
from credentials.case.queries import (
    framework_by_identifier,
    framework_summaries,
    framework_summary,
    item_by_identifier,
    published_rubric_version,
)
from credentials.case.uris import CASE_PATH, case_uri, document_uri, item_uri

__all__ = [
    "CASE_PATH",
    "InvalidCasePackage",
    "case_uri",
    "cf_document",
    "cf_item",
    "cf_rubric",
    "document_link",
    "document_uri",
    "export_package",
    "framework_by_identifier",
    "framework_summaries",
    "framework_summary",
    "import_package",
    "item_by_identifier",
    "item_finder",
    "item_uri",
    "published_rubric_version",
    "tree_association_identifier",
]
