"""The owner's policy screen: policies matched with why, apply, and application status."""

from __future__ import annotations

from dataclasses import dataclass, field

from mobile_app.api import ApiClient
from mobile_app.api.models import PolicyApplication, PolicyMatches
from mobile_app.state.base import Loadable

__all__ = ["PoliciesState"]


@dataclass(kw_only=True)
class PoliciesState(Loadable):
    client: ApiClient
    matches: PolicyMatches | None = None
    applications: list[PolicyApplication] = field(default_factory=list)
    applying: int | None = None

    async def load(self) -> None:
        async def both() -> tuple[PolicyMatches, list[PolicyApplication]]:
            return await self.client.policy_matches(), await self.client.policy_applications()

        loaded = await self._run(both)
        if loaded is not None:
            self.matches, self.applications = loaded
            self.notify()

    async def apply(self, policy_id: int) -> PolicyApplication | None:
        self.applying = policy_id
        self.notify()
        try:
            created = await self._act(lambda: self.client.apply_policy(policy_id))
        finally:
            self.applying = None
        if created is not None:
            self.applications = [created, *self.applications]
            if self.matches is not None:
                for m in self.matches.eligible:
                    if m.policy.id == policy_id:
                        m.application_id, m.application_status = created.id, created.status
        self.notify()
        return created
