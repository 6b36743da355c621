"""English messages of the libraries under our pages (marshmallow's validation
messages, Werkzeug's error descriptions), so the catalogue can translate them.

Schemas and the API keep these messages as the libraries write them; a page
shows them through the ``translate`` filter (``core.i18n.translate``), which
finds them here, numbers included. Nothing imports this module at run time:
it exists for ``pybabel extract``.
"""

from __future__ import annotations

from core.i18n import N_

MARSHMALLOW = (
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Invalid value."),
    N_("Not a valid string."),
    N_("Not a valid integer."),
    N_("Not a valid number."),
    N_("Not a valid boolean."),
    N_("Not a valid URL."),
    N_("Not a valid email address."),
    N_("Not a valid list."),
    N_("Not a valid mapping type."),
    N_("Not a valid datetime."),
    N_("Not a valid date."),
    N_("Invalid type."),
    N_("Invalid input type."),
    N_("Unknown field."),
    N_("String does not match expected pattern."),
    N_("Length must be between %(min)d and %(max)d."),
    N_("Longer than maximum length %(max)d."),
    N_("Shorter than minimum length %(min)d."),
    N_("Must be one of: %(choices)s."),
    N_("Must be greater than or equal to %(min)s and less than or equal to %(max)s."),
    N_("Must be greater than or equal to %(min)s."),
    N_("Must be less than or equal to %(max)s."),
)

WERKZEUG = (
    N_("The browser (or proxy) sent a request that this server could not understand."),
    N_(
        "The requested URL was not found on the server. If you entered the URL manually please "
        "check your spelling and try again."
    ),
    N_("The method is not allowed for the requested URL."),
    N_(
        "You don't have the permission to access the requested resource. It is either "
        "read-protected or not readable by the server."
    ),
    N_("The data value transmitted exceeds the capacity limit."),
    N_("The server does not support the media type transmitted in the request."),
    N_("This user has exceeded an allotted request count. Try again later."),
    N_(
        "The server encountered an internal error and was unable to complete your request. "
        "Either the server is overloaded or there is an error in the application."
    ),
)
