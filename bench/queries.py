"""The fixed query mix both benchmarks send: the shapes of query users and models type."""

from __future__ import annotations

from dataclasses import dataclass

from bench.corpus import CompanyProse

KINDS = ("word", "two words", "phrase", "prefix", "question", "code")


@dataclass(frozen=True)
class Query:
    """One query of the mix and the shape it stands for."""

    kind: str
    text: str


def query_mix(model: CompanyProse) -> list[Query]:
    """Twenty queries over the generated corpus, from common words to rare codenames, in a fixed order."""
    rare = model.tail_word(150)  # a codename a few documents per thousand mention
    queries = [
        Query("word", "customer"),  # the most frequent noun: the longest posting list
        Query("word", "escalation"),
        Query("word", "reconciliation"),
        Query("word", rare),
        Query("two words", "vendor contract"),
        Query("two words", "laptop refund"),
        Query("two words", "payroll deadline"),
        Query("phrase", '"expense report"'),
        Query("phrase", '"root cause analysis"'),
        Query("phrase", '"security review" vendor'),
        Query("prefix", "onboard*"),
        Query("prefix", "reconcil*"),
        Query("prefix", "migrat* database"),
        Query("question", "how do I request a new laptop?"),
        Query("question", "what is the travel policy for contractors?"),
        Query("question", "who approves a purchase order over the budget threshold?"),
        Query("question", "when is the payroll deadline this quarter?"),
        Query("code", "SEC-1004"),
        Query("code", "FIN-1010"),
        Query("word", "Hazel"),  # a product name
    ]
    assert {q.kind for q in queries} == set(KINDS)
    return queries
