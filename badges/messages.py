"""The badge domain's English messages, for translation on the pages.

Verification reasons and verdicts, bulk-check and transcript messages stay
English in code: the JSON API, the result CSV of a bulk check and the audit
record keep them as they are. A page passes each one through the ``translate``
filter (``core.i18n.translate``), which finds the entry below, placeholders
included, and shows it in the reader's language. Keep each text here identical
to the one the code builds; tests/core/test_i18n.py checks the common ones.

Nothing imports this module at run time: it exists for ``pybabel extract``.
"""

from __future__ import annotations

from core.i18n import N_

VERIFICATION = (
    # verdicts (badges.verification._verdict)
    N_("Valid: %(achievement)s issued to %(name)s on %(date)s, %(hours)s PD hours."),
    N_("Valid: %(achievement)s issued to %(name)s on %(date)s."),
    N_("Not valid: %(reason)s"),
    # format and schema
    N_("This is not a credential (a JSON object is expected)."),
    N_("This is not an Open Badges 3.0 credential."),
    N_("This is not an Open Badges 3.0 credential. Missing: %(fields)s."),
    N_("An Open Badges 3.0 credential with the required fields."),
    N_("It follows the Open Badges 3.0 JSON Schema."),
    N_("It does not follow the Open Badges 3.0 JSON Schema: %(detail)s."),
    N_("This image carries no badge credential (it is not a baked badge)."),
    N_("It uses terms its contexts do not define: %(terms)s."),
    # proof
    N_("The signature is valid: nothing has changed since issue."),
    N_("the signature does not match the document and key"),
    N_("no public key is published for %(method)s"),
    N_("No published key %(method)s."),
    N_("The key belongs to another host (%(host)s); this service does not trust it."),
    # issuer
    N_("The signing key is not one this service publishes."),
    N_("The key does not belong to the issuer named in the credential."),
    N_("%(issuer)s is not an approved issuer."),
    N_("The key was reported compromised on %(date)s, before this badge was signed."),
    N_("Signed by %(issuer)s with its published key %(key)s."),
    # revocation
    N_("The revocation status cannot be checked with this service."),
    N_("The issuer has revoked this badge."),
    N_("Not revoked."),
    # expiry
    N_("The issue date cannot be read."),
    N_("Not valid before %(date)s."),
    N_("Expired on %(date)s. The educator can renew it."),
    N_("Valid until %(date)s."),
    N_("Does not expire."),
    # PDF certificates
    N_("The PDF is not signed."),
    N_("Signed by %(signer)s; nothing was changed or added after signing."),
    N_("The PDF carries no credential.json."),
    N_("The PDF carries no digital signature."),
    N_("The signature does not match the document: the signed content was altered."),
    N_("The signature does not cover the whole file: something was added after signing."),
    N_("The signer's certificate was not checked: the signature is broken."),
    # the verify page and its lookups
    N_("No badge has this id. Check it against the certificate."),
    N_("Enter the badge id (it looks like 8-4-4-4-12 letters and digits) or the verification URL."),
    N_("The file is larger than 10 MiB; a credential or certificate is much smaller."),
    N_(
        "This is not a credential: send the JSON credential, a VC-JWT, a baked PNG or a "
        "certificate PDF."
    ),
    N_("Not a JSON credential, VC-JWT, baked PNG or certificate PDF."),
    N_("This file is not a credential, a baked PNG or a certificate PDF."),
    N_("Not a credential, a baked PNG or a certificate PDF."),
    N_(
        "Only this service's own badge addresses (%(base)s/badges/…) can be verified by URL. "
        "For a badge from elsewhere, upload its credential file."
    ),
    N_("The certificate is still being prepared; try again in a minute."),
    N_("No such badge."),
    N_("No issuer %(slug)s."),
    # VC-JWT and baked images
    N_("This is not a readable VC-JWT."),
    N_("Only EdDSA (Ed25519) signatures are accepted."),
    N_("The signing key named in the header cannot be found."),
    N_("The signature does not match: the token was changed."),
    N_("The token's claims (issuer, id, dates) do not match the credential it carries."),
    N_("This is not a PNG image."),
    N_("The PNG is truncated or damaged."),
    N_("The PNG is damaged (a checksum does not match)."),
    N_("A baked credential must not be compressed."),
    N_("The baked credential is not UTF-8 text."),
)

BADGE_PAGE = (
    N_("Your badge page is public."),
    N_("Your badge page is private."),
    N_("Give the reason for revoking."),
    N_("The badge is revoked; verification shows it at once."),
)

BULK = (
    N_("No such bulk check. Results are kept for 7 days."),
    N_("The results are not ready yet; they can be downloaded when the check is done."),
    N_("The results were deleted. Upload the file again to check it anew."),
    N_(
        "The file is larger than %(mib)d MiB, the limit for one check. Split it into smaller files."
    ),
    N_("The file is empty. The first row must name the columns: badge, name, license_number."),
    N_("The file is empty."),
    N_(
        "The file has no “badge” column. The first row must name the columns badge, name and "
        "license_number (it names: %(found)s)."
    ),
    N_(
        "The file has more than %(rows)s rows, the limit for one check. Split it into smaller files."
    ),
    N_("The file is not UTF-8 text. Save it from your spreadsheet as “CSV UTF-8”."),
    N_("The file cannot be read as CSV (%(detail)s). Save it from your spreadsheet as CSV."),
    N_("The file has a header row but no badges to check."),
    N_("Choose a CSV file with a “badge” column."),
)

TRANSCRIPTS = (
    N_("Your state's verifiers can no longer look your transcript up."),
    N_("Verifiers of %(state)s can now look your transcript up by your licence number."),
    N_("The link no longer works."),
    N_("No such export."),
    N_("No shared transcript matches. Check the licence number and state."),
    N_(
        "Add your licence number and state under My account first: the state's verifiers "
        "look you up by them."
    ),
    N_("Required to share with your state."),
    N_("A link lasts between 1 and %(days)d days, or until you revoke it."),
    N_("Between 1 and %(days)d."),
    N_("No such link."),
    N_("This link does not work: it was revoked, it expired, or it is wrong."),
    N_("There is no valid badge to put in a CLR transcript yet."),
)

# Words the templates show through _(value|capitalize): bulk check states,
# row verdicts and transcript line states.
STATES = (
    N_("Queued"),
    N_("Running"),
    N_("Done"),
    N_("Failed"),
    N_("Valid"),
    N_("Not valid"),
    N_("Error"),
    N_("Revoked"),
    N_("Expired"),
)
