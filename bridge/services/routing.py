"""The engine's directory: numbers → hunt plans, from the database."""

from __future__ import annotations

from sqlalchemy import select

from bridge.services.extensions import sip_endpoint
from bridge.store.models import Extension, Tenant
from bridge.store.session import Database
from bridge.telephony.hunt import HuntPlan, NoMemory, Target


class DatabaseDirectory(NoMemory):
    def __init__(self, database: Database, dial_timeout: int) -> None:
        self.database = database
        self.dial_timeout = dial_timeout

    def route_dial(self, domain: str, number: str, caller_number: str) -> HuntPlan | None:
        with self.database.session() as session:
            tenant = session.scalar(select(Tenant).where(Tenant.sip_domain == domain))
            if tenant is None:
                return None
            extension = session.scalar(select(Extension).where(
                Extension.tenant_id == tenant.id, Extension.extension_number == number))
            if extension is not None:
                return self._direct(extension)
        return None

    def route_did(self, number: str) -> HuntPlan | None:
        return None

    def _direct(self, extension: Extension) -> HuntPlan:
        return HuntPlan(label=f"extension {extension.extension_number}",
                        waves=((extension_target(extension),),), ring_time=self.dial_timeout)


def extension_target(extension: Extension) -> Target:
    endpoint = sip_endpoint(extension)
    return Target(key=extension.id, dial=f"PJSIP/{endpoint.username}@{endpoint.endpoint_id}",
                  label=extension.extension_number, agent_id=extension.agent_id)
