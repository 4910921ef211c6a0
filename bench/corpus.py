"""A deterministic generator of company-like Markdown documents for search benchmarks.

Text comes from a small word-frequency model, not from any downloaded corpus:
hand-written domain word lists sampled with Zipf weights (so a few words are
everywhere and most are rare, as in real prose), a long tail of generated
pseudo-words (codenames, customers, jargon) that keeps the vocabulary growing
with the corpus, and sentence templates that give the words a grammatical
frame. Each document repeats a few topic words, so term frequencies are bursty
the way BM25 expects.

Document ``i`` depends only on the seed and ``i``: a 1k corpus is the first
thousand documents of the 100k one.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

GENERATOR_VERSION = "1"
DEFAULT_SEED = 20261125
TAIL_SIZE = 40_000

TEAMS = (
    "Finance", "Customer Support", "Security", "Platform", "Sales", "People Operations", "Legal",
    "Infrastructure", "Payroll", "Procurement", "Data", "Marketing", "Product", "IT", "Customer Success",
    "Compliance", "Facilities", "Quality", "Research", "Engineering Productivity",
)  # fmt: skip
TEAM_CODES = (
    "FIN", "SUP", "SEC", "PLT", "SAL", "PPL", "LEG", "INF", "PAY", "PRC",
    "DAT", "MKT", "PRD", "IT", "CS", "CMP", "FAC", "QA", "RES", "EP",
)  # fmt: skip
ROLES = (
    "manager", "team lead", "on-call engineer", "budget owner", "account executive", "controller",
    "security officer", "administrator", "requester", "approver", "document owner", "reviewer", "new hire",
    "recruiter", "contractor", "incident commander", "auditor", "product manager", "support agent", "director",
)  # fmt: skip
# Nouns in rough order of frequency: Zipf rank is the position in this list.
NOUNS = (
    "customer", "request", "team", "account", "process", "policy", "service", "access", "data", "project",
    "report", "ticket", "change", "system", "invoice", "order", "payment", "contract", "release", "employee",
    "vendor", "document", "review", "incident", "budget", "deadline", "meeting", "plan", "expense", "approval",
    "laptop", "renewal", "deployment", "dashboard", "alert", "escalation", "backup", "password", "license",
    "audit", "forecast", "pipeline", "migration", "outage", "rollback", "integration", "certificate",
    "credential", "subscription", "discount", "refund", "shipment", "warehouse", "supplier", "purchase",
    "requisition", "reimbursement", "allowance", "benefit", "holiday", "timesheet", "salary", "bonus",
    "promotion", "onboarding", "offboarding", "interview", "candidate", "feedback", "goal", "milestone",
    "roadmap", "requirement", "specification", "prototype", "experiment", "metric", "threshold", "latency",
    "capacity", "cluster", "database", "queue", "endpoint", "token", "permission", "role", "group",
    "workspace", "repository", "branch", "build", "test", "environment", "region", "server", "network",
    "firewall", "vulnerability", "patch", "scan", "risk", "control", "evidence", "exception", "waiver",
    "retention", "archive", "record", "signature", "agreement", "clause", "liability", "warranty", "claim",
    "dispute", "territory", "quota", "lead", "opportunity", "prospect", "demo", "trial", "price", "tier",
    "segment", "campaign", "webinar", "newsletter", "survey", "churn", "upgrade", "downgrade", "feature",
    "bug", "regression", "hotfix", "sprint", "backlog", "estimate", "handoff", "runbook", "checklist",
    "template", "schedule", "rotation", "shift", "desk", "badge", "visitor", "parking", "printer", "monitor",
    "headset", "reconciliation", "ledger", "journal", "accrual", "depreciation", "asset", "inventory", "tax",
    "receipt", "mileage", "flight", "hotel", "booking", "visa", "relocation", "stipend", "equity", "payslip",
)  # fmt: skip
COMPOUND_NOUNS = (
    "expense report", "access request", "purchase order", "support ticket", "change request",
    "incident review", "on-call rotation", "security review", "code review", "performance review",
    "service level agreement", "root cause analysis", "cost center", "payment terms", "feature flag",
    "status page", "error budget", "price list", "renewal quote", "credit note", "travel policy",
    "annual leave", "parental leave", "password manager", "single sign-on", "disaster recovery plan",
    "statement of work", "master services agreement", "non-disclosure agreement", "quarterly business review",
    "sales pipeline", "vendor assessment", "data retention schedule", "acceptable use policy", "release train",
    "data warehouse", "customer success plan", "runbook entry", "budget request", "hiring plan",
)  # fmt: skip
ADJECTIVES = (
    "new", "quarterly", "internal", "annual", "critical", "current", "monthly", "external", "approved",
    "pending", "standard", "weekly", "urgent", "shared", "regional", "global", "overdue", "temporary",
    "remote", "secure", "primary", "manual", "automated", "legacy", "previous", "final", "draft", "optional",
    "mandatory", "confidential", "public", "private", "enterprise", "strategic", "minor", "major",
    "high-priority", "low-risk", "billable", "recurring", "upcoming", "outstanding", "consolidated",
    "detailed", "simplified", "revised", "preferred", "default", "permanent", "secondary",
)  # fmt: skip
VERBS = (
    "review", "approve", "update", "submit", "request", "check", "track", "close", "assign", "escalate",
    "open", "schedule", "renew", "cancel", "deploy", "confirm", "share", "record", "verify", "notify",
    "configure", "migrate", "document", "reconcile", "audit", "rotate", "archive", "export", "import",
    "monitor", "investigate", "resolve", "reproduce", "prioritize", "estimate", "invoice", "reimburse",
    "onboard", "train", "evaluate", "negotiate", "sign", "ship", "restore", "patch", "upgrade", "merge",
    "test", "measure", "store", "delete", "retain", "encrypt", "grant", "revoke", "book", "plan", "label",
)  # fmt: skip
SYSTEMS = (
    "the billing service", "the identity provider", "the HR portal", "the ticketing system", "the expense tool",
    "the CRM", "the build farm", "the VPN", "the wiki", "the payroll system", "the asset register",
    "the data warehouse", "the procurement portal", "the status page", "the deploy pipeline",
)  # fmt: skip
PRODUCTS = (
    "Alder", "Birch", "Cedar", "Juniper", "Larch", "Rowan", "Sorrel", "Tamarack", "Willow", "Hazel",
    "Aspen", "Linden",
)  # fmt: skip
FIRST_NAMES = (
    "Amara", "Bruno", "Chen", "Dalia", "Emeka", "Freya", "Gustavo", "Hana", "Idris", "Jonas", "Keiko",
    "Leila", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sami", "Tomas", "Uma", "Viktor",
    "Wen", "Ximena", "Yusuf", "Zofia",
)  # fmt: skip
CUSTOMER_SUFFIXES = (
    "Logistics",
    "Health",
    "Foods",
    "Energy",
    "Bank",
    "Retail",
    "Labs",
    "Insurance",
    "Motors",
)
UNITS = (
    "days", "business days", "hours", "weeks", "minutes", "percent", "seats", "licenses", "users", "requests",
)  # fmt: skip
NUMBERS = ("2", "3", "5", "7", "10", "14", "15", "20", "30", "45", "60", "90", "100", "250", "500", "1000")
PERIODS = (
    "this quarter", "next month", "before the end of the fiscal year", "every Monday", "within 24 hours",
    "by Friday", "after the change freeze", "during the maintenance window", "at month end", "once a year",
    "before the audit", "on the first business day of the month",
)  # fmt: skip
DOC_TYPES = (
    "policy", "runbook", "guide", "FAQ", "postmortem", "meeting notes", "design doc", "checklist",
    "release notes", "process", "playbook", "onboarding guide",
)  # fmt: skip
SECTION_HEADINGS = (
    "Background", "Scope", "Steps", "Exceptions", "Who to contact", "FAQ", "Timeline", "Responsibilities",
    "Known issues", "Definitions", "Escalation path", "Related documents", "Action items", "Summary",
)  # fmt: skip

SENTENCES = (
    "The {team} team {verbs} every {noun} that {verbs} the {adj} {noun}.",
    "Before you {verb} a {noun}, {verb} the {adj} {noun} with your {role}.",
    "All {nouns} must be {verbed} by the {role} {period}.",
    "If the {noun} is {adj}, {verb} it in {system} and notify the {team} team.",
    "{person} from {team} {verbed} the {noun} for {customer} {period}.",
    "See {code} for the history of this {noun}.",
    "{project} {verbs} the {adj} {nouns} used by {system}.",
    "Expect {num} {unit} between the {noun} and the {noun}.",
    "We {verb} {adj} {nouns} {period} so that the {nouns} stay {adj}.",
    "The {role} is responsible for {verbing} the {noun} and {verbing} any {adj} {nouns}.",
    "Use {system} to {verb} {nouns}; do not {verb} them by email.",
    "For {product} customers, the {noun} {verbs} after {num} {unit}.",
    "When a {noun} {verbs}, the {role} should {verb} the {noun} within {num} {unit}.",
    "{customer} asked us to {verb} their {noun} {period}.",
    "The {adj} {noun} limit is {amount} per {noun}.",
    "Questions about {nouns} go to the {team} channel or to {person}.",
    "This {noun} replaces the {adj} {noun} described in {code}.",
    "{verbing} the {noun} takes about {num} {unit} for a {adj} {noun}.",
    "Do not {verb} {adj} {nouns} without an approved {noun}.",
    "Every {noun} has an owner, a {noun} and a {adj} {noun}.",
    "The {tail} {noun} is only available in {system}.",
    "Our {noun} for {product} {verbs} the {adj} {noun} {period}.",
    "Contact the {role} if the {noun} {verbs} more than {num} {unit}.",
    "{nouns} that are {adj} are {verbed} automatically by {system}.",
    "The {team} {noun} lists every {adj} {noun} and its {noun}.",
    "Please {verb} the {noun} and attach the {noun} to {code}.",
    "A {adj} {noun} needs sign-off from the {role} and the {team} team.",
    "{project} moved the {noun} from {system} to {system}.",
    "Most {nouns} are {verbed} within {num} {unit}, but {adj} ones can take longer.",
    "In the last {noun}, {person} {verbed} {num} {nouns} for the {tail} {noun}.",
)  # fmt: skip
STEPS = (
    "{verb} the {noun} in {system}.",
    "{verb} the {adj} {noun} with the {role}.",
    "Ask the {team} team to {verb} the {noun}.",
    "Wait {num} {unit}, then {verb} the {noun}.",
    "{verb} {code} and link it to the {noun}.",
)  # fmt: skip
TITLES = (
    "{team} {doctype}: {adj} {topic}",
    "How to {verb} a {topic}",
    "{topic} {doctype}",
    "{project} {doctype}",
    "{adj} {topic} and {topic2}",
    "{team}: {topic} {doctype}",
)  # fmt: skip

_SLOT = re.compile(r"\{(\w+)\}")
_A_BEFORE_VOWEL = re.compile(r"\b([Aa]) (?=[aeiou])")
_UNCOUNTABLE = frozenset(
    {"data", "access", "feedback", "evidence", "mileage", "equity", "churn", "inventory"}
)
_DOUBLE_FINAL = frozenset({"ship", "plan", "submit", "label"})
_ONSETS = ("b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "k", "l", "m", "n", "p", "pr", "qu", "r",
           "s", "sh", "st", "t", "th", "tr", "v", "w", "z")  # fmt: skip
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "ae")
_CODAS = ("", "", "n", "r", "l", "s", "x", "th", "nd", "rk", "st", "m")


def pluralize(noun: str) -> str:
    """English plural of a noun or of the last word of a compound noun."""
    head, _, last = noun.rpartition(" ")
    if last in _UNCOUNTABLE or noun.endswith("leave"):
        plural = last
    elif last.endswith("sis"):
        plural = last[:-3] + "ses"
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        plural = last[:-1] + "ies"
    elif last.endswith(("s", "x", "ch", "sh")):
        plural = last + "es"
    else:
        plural = last + "s"
    return f"{head} {plural}" if head else plural


def verb_forms(base: str) -> tuple[str, str, str, str]:
    """(base, third person, past, -ing) of a regular verb."""
    stem = base + base[-1] if base in _DOUBLE_FINAL else base
    if base.endswith("e"):
        return base, base + "s", base + "d", base[:-1] + "ing"
    if base.endswith("y") and base[-2] not in "aeiou":
        return base, base[:-1] + "ies", base[:-1] + "ied", base + "ing"
    third = base + "es" if base.endswith(("s", "x", "ch", "sh")) else base + "s"
    return base, third, stem + "ed", stem + "ing"


class Zipf:
    """Samples items with weight 1/rank^s, rank being the position in ``items``."""

    def __init__(self, items: Sequence[str], exponent: float = 1.0) -> None:
        self.items = list(items)
        self.cum_weights = list(
            itertools.accumulate(1.0 / (rank**exponent) for rank in range(1, len(items) + 1))
        )

    def pick(self, rng: random.Random) -> str:
        return rng.choices(self.items, cum_weights=self.cum_weights)[0]


def tail_words(seed: int, count: int = TAIL_SIZE) -> list[str]:
    """``count`` distinct pronounceable pseudo-words, in a fixed order for ``seed``."""
    rng = random.Random(seed)
    seen: set[str] = set()
    words: list[str] = []
    for _ in range(count * 20):  # bounded: collisions are rare, this is never reached
        syllables = rng.choice((2, 2, 3))
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)) + rng.choice(
            _CODAS
        )
        if word not in seen and len(word) >= 5:
            seen.add(word)
            words.append(word)
            if len(words) == count:
                return words
    raise RuntimeError("could not generate enough distinct tail words")


@dataclass(frozen=True)
class GeneratedDocument:
    """One generated file: where it goes and what it says."""

    relpath: str
    text: str


class CompanyProse:
    """The word-frequency model and templates; ``document(i)`` is deterministic for (seed, i)."""

    def __init__(self, seed: int = DEFAULT_SEED) -> None:
        self.seed = seed
        self.tail = tail_words(seed)
        self.nouns = Zipf(NOUNS)
        self.compounds = Zipf(COMPOUND_NOUNS)
        self.adjectives = Zipf(ADJECTIVES)
        self.verbs = Zipf(VERBS)
        self.teams = Zipf(TEAMS, 0.8)
        self.roles = Zipf(ROLES)
        self.systems = Zipf(SYSTEMS, 0.7)
        self.products = Zipf(PRODUCTS, 0.7)
        self.jargon = Zipf(self.tail, 1.0)
        self.ticket_numbers = Zipf([str(n) for n in range(1000, 10_000)], 1.0)
        self.plurals = {noun: pluralize(noun) for noun in (*NOUNS, *COMPOUND_NOUNS)}
        self.verb_table = {verb: verb_forms(verb) for verb in VERBS}
        self._sentences = [_compile(t) for t in SENTENCES]
        self._steps = [_compile(t) for t in STEPS]
        self._titles = [_compile(t) for t in TITLES]

    def tail_word(self, rank: int) -> str:
        """The pseudo-word at Zipf rank ``rank`` (1 = most frequent)."""
        return self.tail[rank - 1]

    def document(self, index: int) -> GeneratedDocument:
        rng = random.Random(self.seed * 1_000_003 + index)
        team_index = TEAMS.index(self.teams.pick(rng))
        team = TEAMS[team_index]
        topics = [self._noun(rng, topical=None) for _ in range(3)]
        doc_type = rng.choice(DOC_TYPES)
        fill = _Filler(self, rng, topics, team, TEAM_CODES[team_index], doc_type)
        title = _capitalize(fill.render(rng.choice(self._titles)))
        updated = date(2021, 1, 1) + timedelta(days=rng.randrange(5 * 365))
        lines = [
            "---",
            f"title: {title}",
            f"owner: {team}",
            f"updated: {updated.isoformat()}",
            f"tags: {', '.join(topics)}",
            "---",
            f"# {title}",
            "",
            fill.paragraph(rng.randint(2, 4)),
            "",
        ]
        sections = 1 + min(int(rng.expovariate(1 / 2.5)), 11)
        for _ in range(sections):
            heading = rng.choice(SECTION_HEADINGS) if rng.random() < 0.5 else _capitalize(fill.render_text(
                rng.choice(("{adj} {nouns}", "{verbing} the {noun}", "{noun} {doctype}"))
            ))  # fmt: skip
            lines += [f"## {heading}", ""]
            for _ in range(rng.randint(1, 3)):
                lines += [fill.paragraph(rng.randint(2, 6)), ""]
            if rng.random() < 0.25:
                steps = [
                    f"{n}. {_capitalize(fill.render(rng.choice(self._steps)))}"
                    for n in range(1, rng.randint(3, 6))
                ]
                lines += [*steps, ""]
            elif rng.random() < 0.2:
                lines += [f"- {fill.sentence()}" for _ in range(rng.randint(2, 5))] + [""]
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:48] or "document"
        relpath = f"{_slug(team)}/{_slug(doc_type)}/{index:06d}-{slug}.md"
        return GeneratedDocument(relpath, "\n".join(lines))

    def _noun(self, rng: random.Random, topical: Sequence[str] | None) -> str:
        roll = rng.random()
        if topical and roll < 0.4:
            return rng.choice(topical)
        if roll < 0.52:
            return self.compounds.pick(rng)
        if roll < 0.56:
            return self.jargon.pick(rng)
        return self.nouns.pick(rng)


class _Filler:
    """Fills template slots for one document (its topics, team and random stream)."""

    def __init__(
        self,
        model: CompanyProse,
        rng: random.Random,
        topics: list[str],
        team: str,
        team_code: str,
        doc_type: str,
    ) -> None:
        self.model = model
        self.rng = rng
        self.topics = topics
        self.team = team
        self.team_code = team_code
        self.doc_type = doc_type
        m = model
        self.slots: dict[str, Callable[[], str]] = {
            "team": lambda: self.team if rng.random() < 0.5 else m.teams.pick(rng),
            "role": lambda: m.roles.pick(rng),
            "noun": lambda: m._noun(rng, self.topics),
            "nouns": lambda: self._plural(m._noun(rng, self.topics)),
            "topic": lambda: self.topics[0],
            "topic2": lambda: self.topics[1],
            "adj": lambda: m.adjectives.pick(rng),
            "verb": lambda: m.verb_table[m.verbs.pick(rng)][0],
            "verbs": lambda: m.verb_table[m.verbs.pick(rng)][1],
            "verbed": lambda: m.verb_table[m.verbs.pick(rng)][2],
            "verbing": lambda: m.verb_table[m.verbs.pick(rng)][3],
            "system": lambda: m.systems.pick(rng),
            "product": lambda: m.products.pick(rng),
            "person": lambda: f"{rng.choice(FIRST_NAMES)} {rng.choice(m.tail[:400]).capitalize()}",
            "customer": lambda: f"{m.jargon.pick(rng).capitalize()} {rng.choice(CUSTOMER_SUFFIXES)}",
            "project": lambda: f"Project {m.jargon.pick(rng).capitalize()}",
            "tail": lambda: m.jargon.pick(rng),
            "code": lambda: (
                f"{self.team_code if rng.random() < 0.6 else rng.choice(TEAM_CODES)}-"
                f"{m.ticket_numbers.pick(rng)}"
            ),
            "num": lambda: rng.choice(NUMBERS),
            "unit": lambda: rng.choice(UNITS),
            "period": lambda: rng.choice(PERIODS),
            "amount": lambda: f"${rng.choice(NUMBERS)}",
            "doctype": lambda: self.doc_type,
        }

    def _plural(self, noun: str) -> str:
        return self.model.plurals.get(noun) or pluralize(noun)

    def render(self, parts: list[tuple[str, str | None]]) -> str:
        text = "".join(text + (self.slots[slot]() if slot else "") for text, slot in parts)
        return _A_BEFORE_VOWEL.sub(r"\1n ", text)

    def render_text(self, template: str) -> str:
        return self.render(_compile(template))

    def sentence(self) -> str:
        return _capitalize(self.render(self.rng.choice(self.model._sentences)))

    def paragraph(self, sentences: int) -> str:
        return " ".join(self.sentence() for _ in range(sentences))


def _compile(template: str) -> list[tuple[str, str | None]]:
    """Split a template into (literal text, slot name or None) pairs."""
    parts: list[tuple[str, str | None]] = []
    position = 0
    for match in _SLOT.finditer(template):
        parts.append((template[position : match.start()], match.group(1)))
        position = match.end()
    parts.append((template[position:], None))
    return parts


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def generate_documents(count: int, seed: int = DEFAULT_SEED) -> Iterator[GeneratedDocument]:
    """The first ``count`` documents of the corpus for ``seed``."""
    model = CompanyProse(seed)
    for index in range(count):
        yield model.document(index)


def write_corpus(folder: Path, count: int, seed: int = DEFAULT_SEED) -> int:
    """Write ``count`` documents under ``folder`` (created); returns the bytes written."""
    written = 0
    made: set[Path] = set()
    for doc in generate_documents(count, seed):
        path = folder / doc.relpath
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        data = doc.text.encode()
        path.write_bytes(data)
        written += len(data)
    return written
