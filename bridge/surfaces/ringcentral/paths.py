"""What `/account/{accountId}/extension/{extensionId}` names, for every route under it.

`~` is the token's own: its tenant as the account; as the extension, the extension of
the token's user with the lowest number (a token without a user has none, so `~` as an
extension is not found for it). Explicit ids are as the API shows them (`encode_id`).
Another tenant's account or extension is not found; a user's token (role user) reaches
only the user's own extensions, an admin's (or a token without a user) all the tenant's.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bridge.services.errors import Forbidden, NotFound
from bridge.services.extensions import own_extension
from bridge.services.tenants import Principal
from bridge.store.ids import decode_id
from bridge.store.models import Extension, Tenant

OWN = "~"


class NotPermitted(Forbidden):
    """RingCentral's answer to a user acting on an extension its role does not reach."""

    code = "CMN-408"


def check_account(tenant: Tenant, account_id: str) -> None:
    """`account_id` names the caller's tenant, else not found."""
    if account_id != OWN and decode_id(account_id) != tenant.id:
        raise NotFound(f"account {account_id} not found", field="accountId")


def reached_extension(session: Session, tenant: Tenant, who: Principal, account_id: str,
                      extension_id: str) -> Extension:
    """The extension a path names, when `who` may act on it."""
    check_account(tenant, account_id)
    if extension_id == OWN:  # a token without a user has no extension of its own
        extension = own_extension(session, who.user_id) if who.user_id is not None else None
    else:
        key = decode_id(extension_id)
        extension = session.get(Extension, key) if key is not None else None
    if extension is None or extension.tenant_id != tenant.id:
        raise NotFound(f"extension {extension_id} not found", field="extensionId")
    if not who.reaches(extension.user_id):
        raise NotPermitted(f"extension {extension_id} is not this user's: a user's "
                           "token reaches only the user's own extensions (an admin's "
                           "reaches all)", field="extensionId")
    return extension

