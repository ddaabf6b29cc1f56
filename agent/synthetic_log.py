"""A generated replay log: the project's own default data, needing no outside files. The
simulator replays it, and the service builds its pool from it, when given no log of their own.

Prompts come from templates over eleven topics, filled with random names, numbers and objects,
so they are distinct but topic-coherent. Each model has a cost and a per-topic skill; each prompt
has a latent difficulty, and ``P(correct) = sigmoid(skill[model, topic] - difficulty)``.
"""

from __future__ import annotations

import numpy as np

from agent.logs import ReplayLog

# topic -> (base difficulty, templates, terms for {term}/{term2})
# fmt: off
TOPICS: dict[str, tuple[float, list[str], list[str]]] = {
    "arithmetic": (0.6, [
        "{name} has {n3} {obj} and buys {n1} more, then gives {n2} away. How many are left?",
        "A shop sells {obj} at {n2} dollars each. What do {n1} cost after a {n3} cent discount?",
        "{name} reads {n2} pages a day. How many days to finish a {n3}-page book?",
        "What is {n3} divided by {n2}, rounded to two decimals? Show your working, {name}.",
    ], []),
    "python": (0.8, [
        "Write a Python function to {term} and add type hints. Test it with {n1} items.",
        "My Python script fails when I {term}: IndexError on line {n3}. How do I fix it?",
        "How do I {term} in Python without external libraries? The input has {n3} rows.",
        "Refactor this Python loop that tries to {term} so it runs faster on {n3}0 elements.",
    ], ["reverse a linked list", "parse a CSV file", "merge two sorted lists", "memoise a "
        "recursive function", "flatten a nested dictionary", "count word frequencies",
        "implement binary search", "read a JSON config file", "deduplicate a list of dicts"]),
    "sql": (0.6, [
        "Write a SQL query for the top {n2} {term} by total amount, joined with {term2}.",
        "Why is my SQL JOIN between {term} and {term2} returning {n3} duplicate rows?",
        "Write SQL to count {term} per month in {year} using GROUP BY on the {term2} table.",
        "How do I add an index to the {term} table so filtering by id over {n3}0 rows is fast?",
    ], ["orders", "customers", "employees", "invoices", "products", "shipments", "payments"]),
    "history": (0.2, [
        "What were the main causes of {term}? Answer in {n1} sentences.",
        "In which century did {term} happen? Explain it to a class of {n1} pupils.",
        "Compare {term} with {term2}: what did they have in common? Use {n1} points.",
        "How did {term} change daily life for ordinary people around {year}?",
    ], ["the fall of Constantinople", "the French Revolution", "the Magna Carta", "the Meiji "
        "Restoration", "the Congress of Vienna", "the Battle of Hastings", "the Hanseatic "
        "League", "the Peace of Westphalia", "the Cold War", "the Silk Road trade"]),
    "medicine": (0.7, [
        "What are the first-line treatments for {term} in a {n1}-year-old called {name}?",
        "A {n1}-year-old with {term} asks about exercise {n2} times a week. Any precautions?",
        "How do {term} and {term2} symptoms differ for a {n1}-year-old named {name}?",
        "Which lab tests help diagnose {term}? The patient is {n1} and weighs {n3} pounds.",
    ], ["type 2 diabetes", "hypertension", "asthma", "migraine", "iron-deficiency anaemia",
        "atrial fibrillation", "pneumonia", "hypothyroidism", "rheumatoid arthritis"]),
    "law": (0.9, [
        "Under common law, how does {term} apply if a neighbour used my land for {n1} years?",
        "Is {term} enforceable in a contract signed in {city} in {year}? Explain briefly.",
        "My landlord in {city} cites {term} after {n1} months. What are my rights?",
        "Explain {term} to a small business owner named {name} with {n2} employees.",
    ], ["adverse possession", "breach of contract", "negligence", "fair use", "habeas corpus",
        "force majeure", "a non-compete clause", "tenant eviction", "GDPR access requests"]),
    "creative": (-0.6, [
        "Write a short poem about {term} in {city}, no more than {n2} lines.",
        "Write a {n3}-word story opening about {term} and {term2}, starring {name}.",
        "Compose a haiku about {term} and {n1} {obj} in {city}.",
        "Write a limerick about {name}, {term}, and {n1} {obj}.",
    ], ["a lighthouse keeper", "a lost robot", "the last day of summer", "a dragon who fears "
        "fire", "a city under the sea", "an old violin", "a time-travelling cat", "first snow"]),
    "translation": (0.0, [
        "Translate into {lang}: '{name} bought {n1} {obj} at the market in {city}.'",
        "How do you say 'the train to {city} leaves at {n2} o'clock' in {lang}?",
        "Translate this sentence into formal {lang}: 'We need {n1} more {obj} by Friday.'",
        "Give the {lang} translation of 'my friend {name} was born in {year}'.",
    ], []),
    "summarisation": (-0.2, [
        "Summarise in {n2} words: sales of {obj} in {city} rose {n1}% after {name} cut "
        "prices and the region hired {n3} new staff, despite a weak {year} harvest.",
        "Give a one-line summary of this memo: {name} proposes moving the {city} office, "
        "saving {n3} dollars a year, but {n1} employees would commute further.",
        "TL;DR this: the {city} council voted {n1} to {n2} to ban {obj} downtown from {year}.",
    ], []),
    "physics": (0.9, [
        "A car accelerates from rest at {n1} m/s^2 for {n2} s. How far does it travel?",
        "What is the kinetic energy of a {n2} kg cart of {obj} moving at {n1} m/s?",
        "Explain why {term}, using an example with {n2} cm and {n1} grams.",
        "A ball is dropped from {n3} m. Ignoring drag, when does it hit the ground?",
    ], ["ice floats on water", "the sky is blue", "satellites stay in orbit", "a siren changes "
        "pitch as it passes", "metal feels colder than wood", "lenses focus light"]),
    "chitchat": (-1.5, [
        "Hi! I just got back from {city} after {n2} days. Any tips for beating jet lag?",
        "I'm {name}. Can you suggest a fun weekend activity in {city} for {n1} friends?",
        "Tell me a fun fact about {obj}, I have {n2} minutes to kill.",
        "Good morning! My {n1}-year-old wants a pet, and {name} suggests {obj}. Good idea?",
    ], []),
}
FILLERS: dict[str, list[str]] = {
    "name": ["Ava", "Ben", "Chen", "Dara", "Emil", "Fatima", "Goran", "Hana", "Ivan", "Jia",
             "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq"],
    "obj": ["apples", "books", "marbles", "pencils", "lamps", "bicycles", "oranges", "stickers",
            "candles", "notebooks", "parrots", "teacups", "kites", "batteries"],
    "city": ["Lisbon", "Nairobi", "Osaka", "Toronto", "Lima", "Krakow", "Hanoi", "Austin",
             "Cairo", "Oslo", "Perth", "Dublin"],
    "lang": ["French", "Spanish", "German", "Japanese", "Portuguese", "Italian", "Korean",
             "Turkish", "Dutch"],
}
# fmt: on
# name -> (mean cost in USD per answer, general skill, {topic: skill bonus}); in pool order
BASE_MODELS: dict[str, tuple[float, float, dict[str, float]]] = {
    "small-7b": (4e-5, 0.3, {}),
    "frontier-xl": (5e-3, 2.4, {}),
    "coder-15b": (1.5e-4, 0.0, {"python": 3.4, "sql": 3.0}),
    "math-7b": (6e-5, -0.2, {"arithmetic": 3.8, "physics": 2.9}),
    "medium-13b": (1.2e-4, 0.8, {}),
    "large-34b": (4e-4, 1.4, {}),
    "tiny-1b": (1e-5, -0.6, {"chitchat": 0.5}),
    "xl-70b": (1.5e-3, 1.9, {}),
}
_FAMILIES = ["nova", "orion", "lyra", "vega", "atlas", "echo", "sigma", "delta", "zephyr", "aurora"]
_SIZES = [1, 3, 7, 8, 13, 14, 22, 34, 40, 70, 110, 180]


def generate_log(
    n_prompts: int = 2400, n_models: int = 8, *, seed: int = 0, dominant: int = 0
) -> ReplayLog:
    """A seeded synthetic log of ``n_prompts`` prompts answered by ``n_models`` models.

    The first eight models are hand-made (costs span 1e-5 to 5e-3 USD; ``coder-15b`` and
    ``math-7b`` beat ``frontier-xl`` on their topics); further ones are generated. ``dominant``
    randomly chosen models get a skill above every other model on every topic.

    >>> log = generate_log(60, 4, seed=1)
    >>> log.n_prompts, log.models, log.correct.shape, sorted(set(log.tasks))[:2]
    (60, ['small-7b', 'frontier-xl', 'coder-15b', 'math-7b'], (60, 4), ['arithmetic', 'chitchat'])
    """
    if n_prompts < 1 or n_models < 1:
        raise ValueError(f"need n_prompts >= 1 and n_models >= 1, got {n_prompts}, {n_models}")
    if not 0 <= dominant <= n_models:
        raise ValueError(f"dominant must be in [0, n_models={n_models}], got {dominant}")
    rng = np.random.default_rng(seed)
    topics = list(TOPICS)
    names, base_cost, skill = _models(n_models, topics, rng)
    if dominant:
        winners = rng.choice(n_models, size=dominant, replace=False)
        others = np.delete(skill, winners, axis=0)
        best_other = others.max(axis=0) if len(others) else skill.max(axis=0)
        skill[winners] = best_other + 1.0 + rng.normal(0.0, 0.2, size=(dominant, len(topics)))

    topic_p = rng.dirichlet(np.full(len(topics), 8.0))
    topic = rng.choice(len(topics), size=n_prompts, p=topic_p)
    prompts = _prompts(topic, topics, rng)
    base_difficulty = np.array([TOPICS[t][0] for t in topics])
    difficulty = base_difficulty[topic] + rng.normal(0.0, 1.2, size=n_prompts)
    p_correct = 1.0 / (1.0 + np.exp(difficulty[:, None] - skill[:, topic].T))
    correct = (rng.random((n_prompts, n_models)) < p_correct).astype(np.float64)

    length = np.array([len(p) for p in prompts], dtype=np.float64)
    scale = 0.5 + 0.5 * length / length.mean()
    jitter = np.clip(1.0 + 0.05 * rng.normal(size=(n_prompts, n_models)), 0.8, 1.2)
    cost = base_cost[None, :] * scale[:, None] * jitter
    return ReplayLog(
        name=f"synthetic-s{seed}",
        prompt_ids=[f"syn-{i:05d}" for i in range(n_prompts)],
        prompts=prompts,
        models=names,
        correct=correct,
        cost=cost,
        tasks=[topics[t] for t in topic],
    )


def _models(
    n_models: int, topics: list[str], rng: np.random.Generator
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Names, mean costs ``(M,)`` and skills ``(M, T)``: hand-made first, then generated."""
    names: list[str] = []
    cost = np.empty(n_models)
    skill = np.empty((n_models, len(topics)))
    base = list(BASE_MODELS.items())
    for m in range(n_models):
        if m < len(base):
            name, (c, general, bonus) = base[m]
        else:
            c = float(10 ** rng.uniform(-5.0, np.log10(5e-3)))
            general = -0.6 + 1.1 * np.log10(c / 1e-5) + rng.normal(0.0, 0.4)
            picked = rng.choice(len(topics), size=2, replace=False)
            bonus = {topics[t]: 2.2 for t in picked} if rng.random() < 0.25 else {}
            name = f"{_FAMILIES[m % len(_FAMILIES)]}-{_SIZES[int(rng.integers(len(_SIZES)))]}b"
            while name in names:
                name += "-v2"
        names.append(name)
        cost[m] = c
        noise = rng.normal(0.0, 0.3, size=len(topics))
        skill[m] = general + noise + np.array([bonus.get(t, 0.0) for t in topics])
    return names, cost, skill


def _prompts(topic: np.ndarray, topics: list[str], rng: np.random.Generator) -> list[str]:
    """Fill one random template of each prompt's topic with random fillers."""
    n = len(topic)
    draws = rng.integers(0, 1 << 30, size=(8, n))
    nums = [rng.integers(2, 60, size=n), rng.integers(2, 30, size=n), rng.integers(100, 999, n)]
    years = rng.integers(1200, 1995, size=n)
    out = []
    for i, t in enumerate(topic):
        _, templates, terms = TOPICS[topics[t]]
        fill = {key: pool[draws[k, i] % len(pool)] for k, (key, pool) in enumerate(FILLERS.items())}
        fill["name2"] = FILLERS["name"][draws[4, i] % len(FILLERS["name"])]
        if terms:
            a = draws[5, i] % len(terms)
            fill["term"] = terms[a]
            fill["term2"] = terms[(a + 1 + draws[6, i] % (len(terms) - 1)) % len(terms)]
        fill.update(n1=str(nums[0][i]), n2=str(nums[1][i]), n3=str(nums[2][i]), year=str(years[i]))
        out.append(templates[draws[7, i] % len(templates)].format(**fill))
    return out
