"""The simulated data set: ids, the canonical job model and its deterministic generation.

Nothing here is stored per job. A job is a pure function of ``(seed, index, version)`` plus the
``updated_at`` a change gave it, so a million-job data set costs a few bytes of state per job
(see :class:`etl.simulator.state.SimState`) and any job can be rebuilt on demand.

Canonical statuses are the loader's vocabulary (pending, running, completed, partial, failed,
cancelled); :mod:`etl.simulator.render` turns them into each API version's words.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple, TypeVar

T = TypeVar("T")

M32: Final = (1 << 32) - 1
M64: Final = (1 << 64) - 1

STATUSES: Final = ("pending", "running", "completed", "partial", "failed", "cancelled")
UNFINISHED: Final = frozenset({"pending", "running"})
# Cumulative percentages of the canonical statuses, in STATUSES order.
_STATUS_CUT: Final = (10, 22, 70, 78, 90, 100)
_FINISHED_FROM: Final = 22  # rolls from here on are finished statuses
V1_STATUS: Final = {
    "pending": "PENDING",
    "running": "PENDING",
    "completed": "SUCCESS",
    "partial": "PARTIAL_SUCCESS",
    "failed": "ERROR",
    "cancelled": "CANCELLED",
}
V2_STATUS: Final = {
    "pending": "PENDING",
    "running": "RUNNING",
    "completed": "COMPLETED",
    "partial": "COMPLETED",
    "failed": "FAILED",
    "cancelled": "CANCELLED",
}
INPUT_TYPES: Final = ("url", "file_id", "parse_job_id")

# v1's ParsingLanguages enum (86 codes), as in llama-cloud 2.15.0.
V1_LANGS: Final = (
    "af az bs cs cy da de en es et fr ga hr hu id is it ku la lt lv mi ms mt nl no oc pi pl pt ro "
    "rs_latin sk sl sq sv sw tl tr uz vi ar fa ug ur bn as mni ru rs_cyrillic be bg uk mn abq ady kbd "
    "ava dar inh che lbe lez tab tjk hi mr ne bh mai ang bho mah sck new gom sa bgc th ch_sim ch_tra "
    "ja ko ta te kn"
).split()


def v2_lang(code: str) -> str:
    """v2 speaks ISO 639-1 where a v1 code has one; other codes pass through unchanged."""
    if code.startswith("rs_"):
        return "sr"
    if code.startswith("ch_"):
        return "zh"
    return code


RULE_TYPES: Final = (
    "invoice",
    "receipt",
    "contract",
    "purchase_order",
    "bank_statement",
    "resume",
    "tax_form",
    "medical_record",
    "insurance_claim",
    "shipping_label",
    "payslip",
    "id_document",
    "letter",
    "r",
    "quarterly_financial_statement_with_auditor_notes",
    "Überweisungsträger",
)
_SUBJECTS: Final = (
    "contains an invoice number, line items, and a total amount due",
    "is a till receipt with a merchant name, a date and a paid total",
    "is a signed agreement between two or more parties with clauses and terms",
    "lists ordered goods with quantities, unit prices and a PO number",
    "shows account transactions over a statement period with opening and closing balances",
    "describes a person's work experience, education and skills",
    "is a government tax form such as a W-2, 1099 or VAT return",
    "records a patient's diagnosis, medication or treatment history",
    "claims reimbursement from an insurer for a loss, with a policy number",
    "is a carrier label with a tracking number, sender and recipient addresses",
    "is a payslip with gross pay, deductions and net pay for a period",
    "is an identity document: passport, driving licence or national ID card",
    "enthält eine Rechnungsnummer und einen Gesamtbetrag (Umsatzsteuer ausgewiesen)",
    "contient un numéro de facture, des lignes d'articles et un montant TTC",
    "包含发票号码、明细和总金额的文件",
)
_QUALIFIERS: Final = (
    "",
    " Ignore drafts and templates.",
    " Scanned copies count too, even when rotated or partly illegible.",
    " Prefer this rule when the document also looks like a generic letter.",
    " Multi-page documents match if any page matches.",
)
_ERRORS_FAILED: Final = (
    "Parse job failed: document could not be parsed",
    "File not found or access denied",
    "Timed out after 600 s waiting for the parse job",
    "Unsupported file type: application/x-msdownload",
    "Internal error: classification model unavailable",
)
_ERRORS_PARTIAL: Final = (
    "Some pages could not be parsed",
    "3 of 7 pages were skipped (unreadable)",
    "Classification completed with warnings: low OCR quality",
)
_REASONING: Final = (
    "The document contains {t}-specific fields and layout.",
    "Header and totals section match the {t} rule description.",
    "Keywords and structure are typical of the {t} rule.",
)
_NO_MATCH: Final = "No rule matched with sufficient confidence; the closest candidate was {t}."

RULE_SET_POOL: Final = 4096
PARSING_POOL: Final = 1024

#: Epoch of the data set (2025-01-01T00:00:00Z) and the mean gap between two jobs' creation.
BASE_MS: Final = 1_735_689_600_000
GAP_MS: Final = 60_000
#: A job's first update falls within this long after its creation.
MAX_FIRST_UPDATE_MS: Final = 72 * 3_600_000
DAY_MS: Final = 86_400_000


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """A data set shaped like a real account's history, for incremental syncs and benchmarks.

    The generated jobs are created evenly over ``span_days`` (ending at the simulator's start);
    nearly all have finished within ``finish_within_minutes`` of their creation. A share of them,
    ``unfinished_share``, spread over the whole span, is still pending or running: a backlog of old
    unfinished jobs. Jobs created in the last ``recent_minutes`` of the span, and jobs added later,
    are unfinished with the higher ``recent_unfinished_share``.
    """

    span_days: float = 28.0
    unfinished_share: float = 0.03
    recent_unfinished_share: float = 0.5
    recent_minutes: float = 60.0
    finish_within_minutes: float = 30.0

    def __post_init__(self) -> None:
        if self.span_days <= 0 or self.recent_minutes < 0 or self.finish_within_minutes <= 0:
            raise ValueError("span_days and finish_within_minutes must be > 0, recent_minutes >= 0")
        if not (0 <= self.unfinished_share <= 1 and 0 <= self.recent_unfinished_share <= 1):
            raise ValueError("shares are between 0 and 1")

    @property
    def span_ms(self) -> int:
        return int(self.span_days * DAY_MS)

    @property
    def finish_within_ms(self) -> int:
        return max(1, int(self.finish_within_minutes * 60_000))


def mix64(x: int) -> int:
    """SplitMix64's finalizer: a fast, well-spread 64-bit hash of a 64-bit integer."""
    x &= M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def hash_ints(*parts: int) -> int:
    """A 64-bit hash of a sequence of integers (order matters)."""
    h = 0x243F6A8885A308D3
    for p in parts:
        h = mix64(h ^ mix64(p))
    return h


_UUID_BITS: Final = ((1 << 128) - 1) ^ (0xF << 76) ^ (0x3 << 62)


def _uuid(bits: int) -> str:
    """A version-4 UUID string from 128 bits (version and variant bits forced)."""
    h = f"{bits & _UUID_BITS | 4 << 76 | 2 << 62:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def unmix64(x: int) -> int:
    """The inverse of :func:`mix64`."""
    x = x ^ (x >> 31) ^ (x >> 62)
    x = (x * 0x319642B2D24D8EC3) & M64
    x = x ^ (x >> 27) ^ (x >> 54)
    x = (x * 0x96DE1B173F119089) & M64
    return x ^ (x >> 30) ^ (x >> 60)


class Draws:
    """Uniform draws from a 64-bit hash: random.Random's job for a dozen values, without its
    seeding cost (building a job is on the hot path of every page)."""

    __slots__ = ("_h", "_pool")

    def __init__(self, h: int) -> None:
        self._h = h
        self._pool = h << 64 | mix64(h ^ 0x5851F42D4C957F2D)

    def below(self, n: int) -> int:
        """An integer in [0, n), n <= 2**20 (bias below 2**-20)."""
        if self._pool < 1 << 40:
            self._h = mix64(self._h + 0x9E3779B97F4A7C15)
            self._pool = self._pool << 64 | self._h
        self._pool, x = divmod(self._pool, n)
        return x

    def chance(self, p: float) -> bool:
        return self.below(1 << 16) < p * 65536

    def choice(self, seq: Sequence[T]) -> T:
        return seq[self.below(len(seq))]

    def uniform(self, low: float, high: float, digits: int) -> float:
        return round(low + (high - low) * self.below(1 << 20) / (1 << 20), digits)


class IdCodec:
    """Job ids: random-looking UUIDs that decode back to the job's index without a lookup table.

    The keyed index goes through :func:`mix64` (a bijection) and a 58-bit keyed tag is appended,
    so a made-up or mistyped UUID decodes to nothing rather than to some job.
    """

    def __init__(self, seed: int) -> None:
        self._key = hash_ints(seed, 0x1D)
        self._tag_key = hash_ints(seed, 0x7A6)

    def encode(self, index: int) -> str:
        block = mix64(index ^ self._key)
        v = (block << 58) | (mix64(block ^ self._tag_key) >> 6)
        # 122 free bits around the UUID's version nibble (4) and variant bits (0b10).
        u = ((v >> 74) << 80) | (4 << 76) | (((v >> 62) & 0xFFF) << 64) | (2 << 62) | (v & ((1 << 62) - 1))
        h = f"{u:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def decode(self, job_id: str) -> int | None:
        """The index a job id was made from, or None for a string that is not one of ours."""
        if len(job_id) != 36:
            return None
        try:
            u = int(job_id.replace("-", ""), 16)
        except ValueError:
            return None
        v = ((u >> 80) << 74) | (((u >> 64) & 0xFFF) << 62) | (u & ((1 << 62) - 1))
        block = v >> 58
        if (mix64(block ^ self._tag_key) >> 6) != v & ((1 << 58) - 1):
            return None
        index = unmix64(block) ^ self._key
        # Only the canonical spelling (lower case, hyphens in place) names a job.
        return index if self.encode(index) == job_id else None


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    organization_id: str
    user_ids: tuple[str, ...]
    configuration_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParsingConfig:
    lang: str | None  # a v1 code
    max_pages: int | None
    pages: tuple[int, ...] | None  # sorted, unique, 1-based


class Result(NamedTuple):
    type: str | None
    confidence: float
    reasoning: str


class Job(NamedTuple):
    """One job's canonical data: what both endpoints render and what the ground truth reads.

    A named tuple rather than a frozen dataclass: as immutable, and three times cheaper to build.
    """

    position: int  # the internal index: listing order
    version: int
    id: str
    project_id: str
    organization_id: str
    user_id: str
    v2_known: bool
    status: str  # canonical, one of STATUSES
    mode: str  # FAST or MULTIMODAL
    rules: tuple[tuple[str, str], ...]  # (type, description)
    parsing: ParsingConfig | None
    created_ms: int
    updated_ms: int
    effective_ms: int | None
    job_record_id: str | None
    v1_error: str | None
    v2_error: str | None
    document_input_type: str
    file_input: str
    parse_job_id: str | None
    configuration_id: str | None
    transaction_id: str | None
    result: Result | None
    # (credits, parse_credits) once billing has recorded them, v2 only; None for unfinished jobs.
    usage: tuple[float, float | None] | None
    omit_nulls: bool  # render absent optional fields by omitting them rather than as null


# A handful of jobs at the start have fixed traits so that even a tiny data set shows every
# status and a job v2 does not know: (status at version 0, known to v2).
_FORCED: Final = (
    ("completed", True),
    ("pending", True),
    ("running", True),
    ("partial", True),
    ("failed", True),
    ("cancelled", True),
    ("running", False),
)


class DataSet:
    """The immutable part of a simulated account: projects, users and the job generator."""

    def __init__(
        self,
        seed: int,
        n_projects: int = 3,
        n_orgs: int = 2,
        *,
        lifecycle: Lifecycle | None = None,
        n_generated: int = 0,
    ) -> None:
        if n_projects < 1 or n_orgs < 1 or n_orgs > n_projects:
            raise ValueError("need 1 <= n_orgs <= n_projects")
        self.seed = seed
        self.lifecycle = lifecycle
        # Without a lifecycle, one job a minute; with one, n_generated jobs spread over its span.
        self._gap = GAP_MS
        self._max_first_update = MAX_FIRST_UPDATE_MS
        self._recent_from = n_generated
        if lifecycle is not None:
            self._gap = max(1, lifecycle.span_ms // max(1, n_generated))
            self._max_first_update = lifecycle.finish_within_ms
            recent = int(lifecycle.recent_minutes * 60_000) // self._gap
            self._recent_from = max(0, n_generated - recent)
        self.codec = IdCodec(seed)
        rng = random.Random(hash_ints(seed, 0x9407))
        orgs = [_uuid(rng.getrandbits(128)) for _ in range(n_orgs)]
        self.organization_ids: tuple[str, ...] = tuple(orgs)
        org_users = [tuple(f"usr-{rng.getrandbits(48):012x}" for _ in range(rng.randint(2, 6))) for _ in orgs]
        projects = []
        for p in range(n_projects):
            o = p % n_orgs
            projects.append(
                Project(
                    id=_uuid(rng.getrandbits(128)),
                    organization_id=orgs[o],
                    user_ids=org_users[o],
                    configuration_ids=tuple(f"cfg-{rng.getrandbits(64):016x}" for _ in range(3)),
                )
            )
        self.projects: tuple[Project, ...] = tuple(projects)
        self.project_slot = {pr.id: i for i, pr in enumerate(projects)}
        # Unequal project sizes: weights n, n-1, ..., 1 as cumulative 16-bit thresholds.
        total = n_projects * (n_projects + 1) // 2
        acc, cuts = 0, []
        for p in range(n_projects):
            acc += n_projects - p
            cuts.append(acc * 65536 // total)
        self._project_cuts = tuple(cuts)
        self._k_static = hash_ints(seed, 0x57A7)
        self._k_version = hash_ints(seed, 0x7E55)
        # Pools drawn once per seed: a job picks its rules and parsing configuration from them,
        # which keeps building a job cheap (a page of 100 must cost milliseconds).
        self._rule_sets = tuple(self._rules(rng) for _ in range(RULE_SET_POOL))
        self._parsings = tuple(self._parsing(rng) for _ in range(PARSING_POOL))
        self._reasons = {
            t: (tuple(tpl.format(t=t) for tpl in _REASONING), _NO_MATCH.format(t=t)) for t in RULE_TYPES
        }

    # -- traits, cheap enough to test for every job a list scans -------------------------------
    # Two static words per job: hs (project, v2, created) and hs2 = mix64(hs) (everything else).

    def static_hash(self, index: int) -> int:
        return mix64(self._k_static ^ (index * 0x9E3779B97F4A7C15))

    def _slot(self, hs: int) -> int:
        low = hs & 0xFFFF
        for slot, cut in enumerate(self._project_cuts):
            if low < cut:
                return slot
        return len(self._project_cuts) - 1

    def project_of(self, index: int) -> int:
        """The project slot of a job (never changes)."""
        return self._slot(self.static_hash(index))

    @staticmethod
    def _v2_known(index: int, hs: int) -> bool:
        if index < len(_FORCED):
            return _FORCED[index][1]
        return (hs >> 16) & 0xFFFF >= 3277  # 5% of 65536

    def v2_known(self, index: int) -> bool:
        """About 5% of jobs exist only for v1 (v2 answers 404 and does not list them)."""
        return self._v2_known(index, self.static_hash(index))

    @staticmethod
    def _config_slot(hs2: int) -> int | None:
        return ((hs2 >> 40) & 0xFF) % 3 if (hs2 >> 32) & 0xFF < 102 else None

    def configuration_slot(self, index: int) -> int | None:
        """Which of its project's saved configurations a job used (about 40% used one)."""
        return self._config_slot(mix64(self.static_hash(index)))

    def version_hash(self, index: int, version: int) -> int:
        return mix64(self._k_version ^ mix64(index * 0x9E3779B97F4A7C15 + version))

    def _status(self, index: int, version: int, hv: int) -> str:
        if version == 0 and index < len(_FORCED):
            return _FORCED[index][0]
        roll = hv % 100
        if version == 0 and self.lifecycle is not None:
            lc = self.lifecycle
            share = lc.recent_unfinished_share if index >= self._recent_from else lc.unfinished_share
            if (hv >> 40) % 100_000 < share * 100_000:
                return "running" if (hv >> 20) & 1 else "pending"
            roll = _FINISHED_FROM + hv % (100 - _FINISHED_FROM)
        for status, cut in zip(STATUSES, _STATUS_CUT, strict=True):
            if roll < cut:
                return status
        raise AssertionError("unreachable")

    def status(self, index: int, version: int) -> str:
        """A job's canonical status at a version."""
        return self._status(index, version, self.version_hash(index, version))

    def created_ms(self, index: int) -> int:
        """Creation times of generated jobs strictly increase with the index."""
        return BASE_MS + index * self._gap + (self.static_hash(index) >> 32) % self._gap

    @property
    def max_first_update_ms(self) -> int:
        """A generated job's first update comes at most this long after its creation."""
        return self._max_first_update

    def first_updated_ms(self, index: int, created_ms: int) -> int:
        return created_ms + (mix64(self.static_hash(index)) & M32) % self._max_first_update

    @staticmethod
    def _rules(r: random.Random) -> tuple[tuple[str, str], ...]:
        rules = []
        for rule_type in r.sample(RULE_TYPES, r.randint(1, 4)):
            subject = _SUBJECTS[RULE_TYPES.index(rule_type) % len(_SUBJECTS)]
            if r.random() < 0.3:
                subject = r.choice(_SUBJECTS)
            if r.random() < 0.02:
                # The documented maximum, 500 characters.
                description = (subject + "." + "".join(_QUALIFIERS) * 5)[:500]
            else:
                description = subject + "." + r.choice(_QUALIFIERS)
            rules.append((rule_type, description))
        return tuple(rules)

    @staticmethod
    def _parsing(r: random.Random) -> ParsingConfig | None:
        if r.random() < 0.25:
            return None
        lang = None if r.random() < 0.1 else ("en" if r.random() < 0.4 else r.choice(V1_LANGS))
        roll = r.random()
        max_pages = r.randint(1, 500) if roll < 0.35 else None
        pages = None
        if 0.35 <= roll < 0.7:
            # target_pages and max_pages are never combined.
            pages = tuple(sorted(r.sample(range(1, r.choice((8, 30, 200)) + 1), r.randint(1, 8))))
        if lang is None and max_pages is None and pages is None:
            lang = "en"
        return ParsingConfig(lang, max_pages, pages)

    # -- the whole job ----------------------------------------------------------------------

    def job(self, index: int, version: int, created_ms: int, updated_ms: int) -> Job:
        """Build a job's canonical data; pure given the arguments."""
        hs = self.static_hash(index)
        hs2 = mix64(hs)
        hv = self.version_hash(index, version)
        project = self.projects[self._slot(hs)]
        status = self._status(index, version, hv)
        r = Draws(hv)
        rules = self._rule_sets[r.below(RULE_SET_POOL)]
        parsing = self._parsings[r.below(PARSING_POOL)]

        v1_error = v2_error = None
        if status == "failed":
            v1_error = r.choice(_ERRORS_FAILED)
        elif status == "partial":
            v1_error = r.choice(_ERRORS_PARTIAL)
        if v1_error is not None:
            # The newer API words some errors differently; the canonical column follows v2.
            v2_error = v1_error if r.chance(0.7) else f"{v1_error} (attempt {2 + r.below(2)})"

        result = None
        if status in ("completed", "partial"):
            guess = r.choice(rules)[0]
            matched, no_match = self._reasons[guess]
            if r.chance(0.85):
                result = Result(guess, r.uniform(0.55, 1.0, 4), r.choice(matched))
            else:
                result = Result(None, r.uniform(0.0, 0.5, 4), no_match)

        input_type = INPUT_TYPES[((hs2 >> 48) & 0xFF) % 3]
        hs3 = mix64(hs2)
        if input_type == "url":
            file_input = f"https://files.example.com/uploads/{hs3:016x}.pdf"
        else:
            file_input = _uuid(hs3 << 64 | mix64(hs3 ^ 1))
        parse_job_id = None
        if input_type == "parse_job_id":
            parse_job_id = file_input
        elif status not in ("pending", "cancelled") and (hs2 >> 61) & 1:
            parse_job_id = _uuid(mix64(hs3 ^ 2) << 64 | mix64(hs3 ^ 3))
        config_slot = self._config_slot(hs2)

        if version == 0:
            effective_ms = created_ms + (updated_ms - created_ms) * (1 + r.below(9)) // 10
        else:
            effective_ms = updated_ms
        if r.chance(0.3):
            # Draws an older data set made here: kept so that the fields drawn after them stay put.
            r.below(1 << 20)
            r.below(1 << 20)
        usage: tuple[float, float | None] | None = None
        if status not in UNFINISHED:
            if input_type == "parse_job_id":
                # A job run on a parse job the user created bills nothing of its own.
                usage = (0.0, None)
            else:
                # Classify bills through the parse job it runs: that job's credits are the total.
                credits = Draws(mix64(hv ^ 0xC4ED175)).uniform(0.5, 40.0, 2)
                usage = (credits, credits)
        return Job(
            position=index,
            version=version,
            id=self.codec.encode(index),
            project_id=project.id,
            organization_id=project.organization_id,
            user_id=project.user_ids[((hs2 >> 56) & 0xF) % len(project.user_ids)],
            v2_known=self._v2_known(index, hs),
            status=status,
            mode="FAST" if r.chance(0.6) else "MULTIMODAL",
            rules=rules,
            parsing=parsing,
            created_ms=created_ms,
            updated_ms=updated_ms,
            effective_ms=effective_ms if r.chance(0.9) else None,
            job_record_id=f"jr-{mix64(hv ^ 0x4A52):016x}" if r.chance(0.6) else None,
            v1_error=v1_error,
            v2_error=v2_error,
            document_input_type=input_type,
            file_input=file_input,
            parse_job_id=parse_job_id,
            configuration_id=project.configuration_ids[config_slot] if config_slot is not None else None,
            transaction_id=f"txn-{hs3 >> 20:011x}" if (hs2 >> 60) & 1 and (hs2 >> 62) & 1 else None,
            result=result,
            usage=usage,
            omit_nulls=bool((hs2 >> 63) & 1),
        )
