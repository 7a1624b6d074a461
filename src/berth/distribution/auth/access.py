"""Who may do what to which repository: scopes (Docker token protocol) and a small rule list.

A scope is ``repository:<name>:<action>[,<action>...]`` (actions ``pull``, ``push``, ``delete``, or
``*``) or ``registry:catalog:*``. Rules come from the registry's config file::

    [[access]]
    account = "alice"          # a user name; "*" any authenticated user; "" anonymous
    repository = "team/*"      # a glob over repository names ("*" also spans "/")
    actions = ["pull", "push", "delete"]

With no rules at all, every authenticated user may do everything and anonymous users nothing.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from berth.errors import InvalidArgument

ACTIONS = ("pull", "push", "delete")


@dataclass(frozen=True)
class Scope:
    """A resource and the actions wanted on (or granted for) it."""

    type: str
    name: str
    actions: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Scope:
        """Parse ``type:name:actions``; the name may itself contain ``:`` (a registry host:port)."""
        kind, sep, rest = text.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if not sep or not sep2 or not kind or not name:
            raise InvalidArgument(f"invalid scope {text!r}")
        return cls(kind, name, tuple(a for a in actions.split(",") if a))

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


@dataclass(frozen=True)
class AccessRule:
    """One line of the policy: an account pattern, a repository glob and the actions allowed."""

    account: str
    repository: str
    actions: frozenset[str]

    def matches(self, account: str | None, repository: str) -> bool:
        """Whether the rule speaks for this account and repository."""
        if self.account == "":
            who = True  # rules for anonymous users apply to everyone
        elif self.account == "*":
            who = account is not None
        else:
            who = account == self.account
        return who and fnmatch.fnmatchcase(repository, self.repository)


class AccessPolicy:
    """The rule list; ``granted`` says which of the wanted actions an account may perform."""

    def __init__(self, rules: list[AccessRule]) -> None:
        self.rules = rules

    @classmethod
    def from_config(cls, entries: list[dict[str, Any]]) -> AccessPolicy:
        """Build from the ``access`` list of a config file."""
        rules = []
        for i, entry in enumerate(entries):
            actions = entry.get("actions", [])
            if not isinstance(actions, list) or any(a not in (*ACTIONS, "*") for a in actions):
                raise InvalidArgument(f"access[{i}].actions must be a list of {', '.join(ACTIONS)} or *")
            expanded = set(ACTIONS) if "*" in actions else set(actions)
            rules.append(
                AccessRule(
                    str(entry.get("account", "")), str(entry.get("repository", "*")), frozenset(expanded)
                )
            )
        return cls(rules)

    def granted(self, account: str | None, scope: Scope) -> tuple[str, ...]:
        """The subset of ``scope.actions`` that ``account`` (None: anonymous) may perform."""
        if scope.type == "registry" and scope.name == "catalog":
            # Listing every repository is for accounts that may pull everything.
            allowed = self._allowed(account, "*")
            return ("*",) if "pull" in allowed and "*" in scope.actions else ()
        if scope.type != "repository":
            return ()
        allowed = self._allowed(account, scope.name)
        wanted = ACTIONS if "*" in scope.actions else scope.actions
        return tuple(a for a in wanted if a in allowed)

    def allows(self, account: str | None, scope: Scope) -> bool:
        """Whether ``account`` may perform every action ``scope`` asks for."""
        granted = self.granted(account, scope)
        if "*" in scope.actions:
            return (scope.type == "registry" and granted == ("*",)) or set(granted) == set(ACTIONS)
        return set(granted) >= set(scope.actions)

    def _allowed(self, account: str | None, repository: str) -> set[str]:
        if not self.rules:
            return set(ACTIONS) if account is not None else set()
        allowed: set[str] = set()
        for rule in self.rules:
            if rule.matches(account, repository):
                allowed |= rule.actions
        return allowed
