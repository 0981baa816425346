"""Federation membership: member ids, roles, regions and registered public keys."""

from gateway.members.registry import ROLES, MemberRecord, MemberRegistry

__all__ = ["ROLES", "MemberRecord", "MemberRegistry"]
