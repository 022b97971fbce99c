"""Seeded generator of original, essay-like English prose used as a needle-in-a-haystack filler.

RULER pads its contexts with Paul Graham essays; we cannot ship third-party text, so this module
produces an endless, deterministic stream of varied paragraphs from hand-written templates and
topic vocabularies. The text is meant to look like ordinary essays to a language model (so the
needle is the only odd thing in the context) while never containing needle-like content: no
"special magic" phrase, no number longer than four digits and nothing shaped like a UUID.

Each paragraph is drawn from its own ``random.Random`` keyed by ``(seed, paragraph index)``, so
the stream for a seed is fixed and a shorter request is always a prefix of a longer one.
"""

from __future__ import annotations

import random
import re

__all__ = ["prose_sentences", "prose_text"]


def _split(spec: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in spec.split("|") if w.strip())


def _plural(noun: str) -> str:
    """English plural of the last word of a noun phrase (explicit ``a/b`` entries are handled
    by the caller)."""
    head, _, last = noun.rpartition(" ")
    if last.endswith("y") and last[-2:-1] not in "aeiou":
        last = last[:-1] + "ies"
    elif last.endswith(("s", "sh", "ch", "x")):
        last += "es"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def _nouns(spec: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split ``"a|b/bs|c"`` into singular and plural tuples."""
    sing, plur = [], []
    for item in _split(spec):
        one, _, many = item.partition("/")
        sing.append(one)
        plur.append(many or _plural(one))
    return tuple(sing), tuple(plur)


# One string per topic, fields separated by ';': field names, people, things (singular; 'x/xs'
# gives an irregular plural), activities, adjectives, places.
_TOPIC_SPECS: tuple[str, ...] = (
    "startups|building a company|running a startup|entrepreneurship;founder|investor"
    "|early employee|product manager|cofounder|angel investor|first customer|designer|recruiter"
    ";product|pitch|prototype|business model|landing page|pricing page|launch|seed round|demo"
    "|roadmap|market|competitor|growth chart|spreadsheet;raising money|talking to users"
    "|hiring engineers|shipping features|cutting costs|rewriting the pitch|choosing a market"
    "|doing sales by hand|answering support email;scrappy|ambitious|lean|crowded|profitable"
    "|early|fragile|unglamorous;garage|shared office|coffee shop|accelerator|small apartment"
    "|conference room",
    "programming|software|writing code|computer science;programmer|hacker|maintainer"
    "|code reviewer|junior developer|compiler writer|systems engineer|tester;function|compiler"
    "|bug|test suite|database|text editor|library/libraries|codebase|interface|pull request"
    "|type system|error message|build script|cache|parser;debugging|refactoring old code"
    "|writing tests|reading source code|naming variables|profiling slow loops"
    "|deleting dead code|learning a new language;elegant|brittle|readable|clever|legacy"
    "|concurrent|tidy|slow;terminal|basement lab|open-plan office|server room|university lab",
    "city life|urban life|city planning|urban design;mayor|urban planner|shopkeeper|commuter"
    "|bus driver|architect|landlord|street vendor;street|neighborhood|bridge|park|tram line"
    "|market square|apartment block|bike lane|train station|corner shop"
    "|public library/public libraries|fountain;walking to work|zoning new housing"
    "|repaving old streets|planting street trees|running the night buses|arguing about parking"
    "|mapping bus routes;dense|walkable|noisy|sprawling|leafy|crowded|historic|rainy"
    ";city center|suburb|waterfront|old quarter|plaza|train yard",
    "cooking|home cooking|baking|the kitchen;cook|baker|chef|line cook|food critic|grandmother"
    "|butcher|pastry chef;recipe|sauce|knife/knives|oven|loaf/loaves|stew|cast iron pan"
    "|spice rack|dough|soup|dumpling|omelet|cutting board|tomato/tomatoes;chopping onions"
    "|kneading dough|tasting as you go|braising short ribs|making stock|salting pasta water"
    "|roasting vegetables|sharpening knives;crisp|savory|fragrant|tender|burnt|smoky|bitter"
    "|rustic;kitchen|bakery|farmers market|diner|noodle shop|pantry",
    "science|physics|biology|chemistry|astronomy;scientist|physicist|lab technician|biologist"
    "|graduate student|astronomer|chemist|reviewer;experiment|hypothesis/hypotheses|telescope"
    "|microscope|measurement|theory/theories|sample|dataset|equation|control group|lab notebook"
    "|model|instrument;repeating experiments|measuring carefully|writing grant proposals"
    "|calibrating instruments|checking the controls|reviewing papers|cleaning data;rigorous"
    "|surprising|noisy|elegant|tentative|reproducible|careful|strange;lab|observatory"
    "|field station|lecture hall|clean room",
    "history|archival work|the history of trade|local history;historian|archivist|merchant|monk"
    "|soldier|cartographer|diplomat|scribe;archive|letter|map|treaty/treaties|empire|chronicle"
    "|trade route|ledger|ruin|manuscript|harbor|coin;reading old letters|dating manuscripts"
    "|mapping trade routes|comparing accounts|sorting archives|translating old ledgers;ancient"
    "|forgotten|medieval|contested|dusty|imperial|obscure|turbulent;archive|monastery|port town"
    "|old capital|reading room|museum",
    "writing|essay writing|fiction|prose;writer|editor|novelist|essayist|poet|copy editor|reader"
    "|journalist;essay|draft|sentence|paragraph|notebook|chapter|outline|metaphor|first line"
    "|manuscript|deadline|title;rewriting drafts|cutting adjectives|reading aloud"
    "|keeping a journal|writing every morning|finding the right word|deleting whole pages;clear"
    "|vivid|plain|wordy|honest|lyrical|terse|awkward;study|library|cafe|attic|spare room",
    "music|jazz|composition|playing in a band;musician|drummer|composer|pianist|singer"
    "|conductor|sound engineer|violin teacher;melody/melodies|chord|rhythm|song|record|guitar"
    "|piano|rehearsal|scale|chorus|concert|metronome;practicing scales|playing by ear"
    "|tuning the strings|improvising|rehearsing with a band|learning a new song"
    "|listening closely;loud|mellow|catchy|dissonant|rhythmic|haunting|upbeat|soft;studio"
    "|concert hall|rehearsal room|jazz club|basement|music school",
    "gardening|growing vegetables|the garden|horticulture;gardener|farmer|botanist|beekeeper"
    "|neighbor|landscaper|seed collector|orchard keeper;seed|tomato/tomatoes|compost heap|rose"
    "|hedge|raised bed|trowel|greenhouse|orchard|seedling|weed|trellis|apple tree;pulling weeds"
    "|watering at dawn|pruning roses|turning compost|saving seeds|planting bulbs"
    "|mulching the beds;green|overgrown|fertile|dry|muddy|seasonal|wild|sunny;garden|allotment"
    "|greenhouse|backyard|orchard|vegetable patch",
    "travel|long-distance travel|traveling abroad|backpacking;traveler|guide|ferry captain"
    "|hotel clerk|pilgrim|hiker|local|translator;map|train ticket|suitcase|border crossing"
    "|night train|guidebook|ferry/ferries|hostel|passport|mountain pass/mountain passes"
    "|itinerary/itineraries;packing light|missing connections|asking for directions"
    "|learning a few phrases|walking without a plan|crossing borders|waiting for buses;remote"
    "|dusty|crowded|foreign|scenic|unfamiliar|long|coastal;station|harbor|hostel|airport"
    "|village|mountain road",
    "learning|education|teaching|schooling;student|teacher|tutor|professor|apprentice|principal"
    "|lifelong learner|classmate;lesson|textbook|exam|lecture|homework assignment"
    "|curriculum/curricula|flash card|classroom|question|mistake|school;taking notes"
    "|teaching others|memorizing facts|asking questions|practicing daily|reviewing mistakes"
    "|studying late|explaining ideas aloud;curious|patient|confused|diligent|bored|eager"
    "|thoughtful|slow;classroom|library|workshop|lecture hall|study room|school yard",
    "painting|art|drawing|sculpture;painter|sculptor|curator|art student|collector|illustrator"
    "|critic|gallery owner;canvas|sketch|brush|portrait|palette|gallery/galleries|landscape"
    "|exhibition|self portrait|charcoal drawing|still life;mixing colors|drawing from life"
    "|stretching canvas|sketching in public|studying old masters|painting outdoors"
    "|cleaning brushes;bold|muted|abstract|luminous|unfinished|careful|vivid|rough;studio"
    "|gallery|museum|art school|attic",
    "woodworking|carpentry|making furniture|working with your hands;carpenter|joiner"
    "|furniture maker|apprentice|toolmaker|boat builder|hobbyist|customer;chair|table|chisel"
    "|workbench|plank|dovetail joint|hand plane|cabinet|bookshelf/bookshelves|saw|drawer"
    ";sharpening chisels|measuring twice|sanding by hand|gluing up panels|choosing timber"
    "|fixing old chairs;sturdy|warped|smooth|rough|handmade|sawdust-covered|solid|oiled"
    ";workshop|shed|lumber yard|garage|boatyard",
)

_GENERAL: dict[str, tuple[str, ...]] = {
    "Name": _split(
        "Ada|Basil|Clara|Dmitri|Elena|Farid|Greta|Hugo|Ines|Jonas|Keiko|Lars|Mira|Nadia|Omar"
        "|Priya|Quentin|Rosa|Samir|Tove|Umar|Vera|Wendell|Ximena|Yusuf|Zofia|Theo|Lena|Marco"
        "|Aisha|Felix|Hana|Ivan|June|Kofi|Leona|Milo|Noor|Otto|Paloma|my aunt|my old roommate"
        "|a friend of mine|my neighbor"
    ),
    "city": _split(
        "Lisbon|Osaka|Montreal|Nairobi|Krakow|Valparaiso|Tbilisi|Hanoi|Porto|Bergen|Adelaide"
        "|Marseille|Cork|Busan|Oaxaca|Tallinn|Leeds|Ghent|Kyoto|Minneapolis|Bologna|Accra|Quito"
        "|Halifax|Lyon|Izmir|Dundee|Cusco"
    ),
    "gadj": _split(
        "odd|quiet|stubborn|useful|obvious|subtle|strange|simple|difficult|ordinary|unusual|rare"
        "|gradual|sudden|honest|modest|surprising|important|small|familiar|unexpected|boring"
        "|steady|clumsy|gentle|risky|humble|messy|patient|peculiar"
    ),
    "adv": _split(
        "quietly|patiently|stubbornly|carefully|slowly|awkwardly|calmly|cheerfully|nervously"
        "|politely|proudly|absently|happily|deliberately"
    ),
    "trait": _split(
        "stubborn|patient|careful|cautious|cynical|confident|opinionated|generous|impatient"
        "|set in their ways|curious|forgiving"
    ),
    "weight": _split(
        "tedious|complicated|expensive|serious|lonely|difficult|slow|formal|painful|solemn"
    ),
    "span": _split(
        "a whole summer|three long winters|most of a decade|every weekend for a year|two years"
        "|the better part of a month|a long, wet spring|six weeks"
    ),
    "freq": _split("often|rarely|usually|almost always|seldom|sometimes|nearly always|still"),
    "time": _split(
        "last spring|in the early days|for years|after a while|by the third week|every winter"
        "|one rainy afternoon|a decade later|the following summer|on most Tuesdays|before lunch"
        "|long ago|around midnight|that autumn|the year I turned thirty|just last month"
    ),
    "abstract": _split(
        "patience|curiosity|taste|judgment|luck|discipline|attention|momentum|confidence|habit"
        "|ambition|boredom|honesty|stubbornness|focus|doubt|memory|craft|fear|generosity|humility"
        "|timing|practice|restraint"
    ),
    "verb": _split(
        "notice|build|fix|ignore|improve|study|simplify|explain|question|measure|copy|polish"
        "|abandon|revisit|rethink|test|share|finish|repair|sketch"
    ),
    "verbed": _split(
        "noticed|built|fixed|ignored|improved|studied|simplified|explained|questioned|measured"
        "|copied|polished|abandoned|revisited|rethought|tested|shared|finished|repaired|sketched"
    ),
    "opener": _split(
        "Still,|Of course,|In practice,|Oddly enough,|To be fair,|Looking back,|Honestly,"
        "|Then again,|Admittedly,|In my experience,|Sooner or later,|Even so,|For what it is worth,"
        "|As it turns out,|Strangely,|At first,|In the end,"
    ),
}
_NUMWORDS = _split("two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|fifty")


class _Topic:
    """Vocabulary of one topic, with plurals precomputed."""

    __slots__ = ("field", "person", "people", "thing", "things", "activity", "tadj", "place")

    def __init__(self, spec: str) -> None:
        field, persons, things, activity, adj, place = spec.split(";")
        self.field = _split(field)
        self.person, self.people = _nouns(persons)
        self.thing, self.things = _nouns(things)
        self.activity = _split(activity)
        self.tadj = _split(adj)
        self.place = _split(place)


_TOPICS: tuple[_Topic, ...] = tuple(_Topic(s) for s in _TOPIC_SPECS)

# Slots: {kind} or {kind2} (a second, preferably different value of the same kind); an ``a_``
# prefix adds the right indefinite article. Indented lines continue the previous template.
# Templates avoid quotes and apostrophes on purpose.
_TEMPLATES_SRC = """
the best {people} I know spend more time {activity} than anyone would guess.
most {people} think the hard part is {activity}, but in my experience it is {activity2}.
when {Name} started {activity} in {city}, nobody expected much to come of it.
why do so many {people} underestimate {abstract}?
it took me {n} years to realize that {things} are rarely the real problem.
{Name} once told me that {a_adj} {thing} is worth more than {n} {adj2} ones.
if you want to get better at {field}, start by {activity} and keep at it longer than feels
    reasonable.
there is a kind of {abstract} that only comes from {activity}.
{time}, {Name} {verbed} the old {thing} and found it far more {adj} than expected.
the {adj} {thing} in the corner of the {place} was the first thing {Name} {verbed}.
I used to believe {field} was mostly about {abstract}, but now I think it is about {abstract2}.
what exactly makes {a_thing} feel {adj}?
nobody in {city} talks about {activity} the way {Name} does.
{a_adj} {person} can {verb} {a_thing} in an afternoon; a great one knows when to leave it alone.
the surprising thing about {field} is how much of it depends on {abstract}.
{Name} kept {a_adj} notebook listing every {thing} that went wrong, and it grew thick quickly.
is {activity} really the hardest part of {field}, or just the most visible one?
ask {n} {people} what matters most and you will hear at least {n2} different answers.
by the time the {thing} was finally finished, {Name} had moved to {city}.
there were {n} {things} in the {place}, and every one of them was a little {adj}.
the trouble with {things} is that they look {adj} until you try {activity}.
I suspect most advice about {field} comes from people who have never tried {activity}.
some {people} treat {abstract} as a talent, but it behaves much more like a habit.
in {year}, {a_person} in {city} {verbed} {a_thing} that nobody else had bothered to look at.
{Name} says the secret is {activity}, and it is hard to argue with the results.
that was the year the {place} near the river started to feel {adj}.
you can learn a lot about {a_person} by watching how they handle {a_adj} {thing}.
how long does it take to get good at {activity}?
the answer, as {Name} likes to say, is longer than you want and shorter than you fear.
{people} in {city} have an old saying about {things}, and it is mostly true.
every {adj} {thing} I have seen started out as {a_gadj2} one.
it is easy to confuse {abstract} with {abstract2}, especially early on.
after {n} weeks of {activity}, {Name} finally {verbed} the {thing}.
perhaps the real lesson of {field} is that {abstract} compounds over time.
{Name} and {Name2} argued about the {thing} for most of the evening.
the {people} who last are usually not the most talented but the most {trait}.
do {people} get better with age, or do they just get more {trait}?
whenever I visit {city}, I end up in some {adj} {place} talking about {field}.
one {person} I met in {city} had {verbed} the same {thing} {n} times.
there is no shortcut to {activity}, though plenty of {people} have looked for one.
{a_adj} {thing} is not a failure; it is a draft that has not been {verbed} yet.
what would {field} look like if nobody cared about {abstract}?
I have noticed that the {adj} {things} are usually the ones people remember.
{Name} moved to {city} in {year} with nothing but {a_thing} and a great deal of {abstract}.
the first {n} {things} are always the hardest, and the next {n2} are only slightly easier.
most of what passes for {abstract} in {field} is really just {activity}, done over and over.
it is worth asking why {people} in {city} are so fond of {adj} {things}.
nobody remembers the {adj} {thing}; they remember the {person} who {verbed} it.
if {field} were easy, every {person} in {city} would be doing it.
when in doubt, {verb} the {thing} and see what happens.
good {people} {verb} their {things} {adv}; great ones also know when to stop.
{a_person} from {city} once showed me how to {verb} {a_thing} without any fancy tools.
was it {abstract} or simply {abstract2} that kept {Name} going through that {gadj} winter?
{Name} likes to say that {field} rewards {abstract} far more than {abstract2}.
for {n} years the {thing} sat {adv} in the {place}, waiting for someone to notice it.
people {freq} overestimate how much {abstract} matters and underestimate {activity}.
the {gadj} thing about {things} is that nobody ever agrees on what they are for.
I once spent {a_gadj} week in {city} doing nothing but {activity}.
where does {abstract} come from, if not from years of {activity}?
it helps to remember that every {person} was once {a_gadj} beginner.
even {a_gadj} {person} can {verb} {a_thing} if they are willing to look foolish for a while.
that is the part of {field} that the textbooks {freq} skip.
the {thing} was {adj}, the {thing2} was {adj2}, and somehow it all worked anyway.
at some point, {activity} stops being a chore and becomes a kind of {abstract}.
{Name} {freq} compares {field} to {ofield}, and the comparison holds up better than you would
    think.
can you really teach {abstract}, or can you only create the conditions for it?
half the {people} in {city} seem to have an opinion about the new {thing}.
over {n} years of {activity}, I have {verbed} more {things} than I care to admit.
the {gadj} truth is that {activity} matters more than any single {thing}.
{Name} walked through {city} {adv}, thinking about {things} and {abstract}.
there is a difference between {a_adj} {thing} and a finished one, and it is mostly {abstract}.
maybe the {people} in {city} were right about {things} after all.
think about the last time you {verbed} {a_thing}, and how {adj} it felt afterward.
the old {person} in the {place} had {verbed} more {things} than anyone else in {city}.
{Name} wrote to me {time} to say the {thing} was finally {adj}.
I doubt that {abstract} alone explains it; {activity} probably played a bigger role.
you do not need {a_adj} {thing} to start {activity}, only a little {abstract}.
almost everything interesting about {field} happens in the gaps between the {things}.
if you ask me, {activity} is underrated and {activity2} is overrated.
the {people} of {city} learned {time} that {abstract} is cheaper than {abstract2}.
what happens to {a_thing} after {n} years of neglect?
some days {activity} feels {adj}, and other days it feels like the only thing worth doing.
{Name} keeps {n} {things} on the shelf above the desk, each a little more {adj} than the last.
the {person} {adv} {verbed} the {thing} while the rest of us watched.
{time}, the whole {place} smelled of sawdust, coffee and {abstract}.
I think {field} and {ofield} have more in common than either side likes to admit.
{a_thing} that nobody uses is just an expensive way of {activity}.
who decided that {activity} had to be so {weight}?
there is nothing {weight} about {activity}, yet {people} {freq} treat it as a rite of passage.
{Name} spent {span} {activity}, then {verbed} the {thing} and started all over again.
the more {things} you have {verbed}, the less {weight} the next one seems.
we tend to remember the {adj} {things} and forget the {n} quiet ones that came before them.
{a_person} who has never {verbed} {a_thing} will {freq} explain to you how it should be done.
the odd thing is that {activity} looked like a waste of time to everyone in {city}, right up until
    the moment it became the only thing anyone there wanted to talk about.
if I had to explain {field} to a newcomer, I would skip the theory and start with {activity},
    because that is where the {abstract} actually lives.
{Name} spent most of {year} {activity} in {a_gadj} {place} on the edge of {city}, and later called
    it the best year of a long life.
what I find hard to explain to newcomers is that {things} do not get {adj} on their own; someone
    has to spend {n} patient years {activity}.
nobody tells you that the {adj} {things} you admire were built by {people} who spent {span}
    {activity} while everyone around them was doing something more sensible.
it would be convenient if {abstract} could be bought or borrowed, but every {person} I have known
    in {city} had to earn it the slow way, through {activity}.
when {Name} finally showed us the {thing}, the room went quiet for a moment, and then {Name2}
    asked the one question that none of us had thought to ask.
why is it that the {people} who talk most about {abstract} are so often the ones who have spent
    the least time {activity}?
"""
_SLOT = re.compile(r"\{(\w+)\}")
_TEMPLATES: tuple[tuple[str, ...], ...] = tuple(
    tuple(_SLOT.split(line)) for line in re.sub(r"\n +", " ", _TEMPLATES_SRC).strip().splitlines()
)
_TAILS = _split(
    ", at least according to {Name}|, or so {Name} claims|, at least in {city}"
    "|, for better or worse|, whatever the {people} say|, and {Name} would agree"
    "|, as far as I can tell"
)
_TAIL_PARTS = tuple(tuple(_SLOT.split(t)) for t in _TAILS)
_OPENER_CITY = ("In {city},", "According to {Name},")
_OPENER_PARTS = tuple(tuple(_SLOT.split(t)) for t in _OPENER_CITY)
_AN_EXCEPT = ("use", "uni", "one", "eu")
_MAX_WORDS = 35


def _article(word: str) -> str:
    low = word.lower()
    vowel = low[:1] in "aeiou" and not low.startswith(_AN_EXCEPT)
    return ("an " if vowel or low.startswith(("hour", "honest")) else "a ") + word


def _pick(kind: str, rng: random.Random, topic: _Topic) -> str:
    """One value for a slot kind (no article, no numeric suffix)."""
    if kind == "adj":
        return rng.choice(topic.tadj if rng.random() < 0.6 else _GENERAL["gadj"])
    if kind == "n":
        return rng.choice(_NUMWORDS) if rng.random() < 0.6 else str(rng.randint(13, 99))
    if kind == "year":
        return str(rng.randint(1890, 2019))
    if kind == "ofield":
        return rng.choice(rng.choice(_TOPICS).field)
    if kind == "time" and rng.random() < 0.15:
        return f"in {rng.randint(1890, 2019)}"
    vocab = getattr(topic, kind, None)
    return rng.choice(vocab if vocab is not None else _GENERAL[kind])


def _fill(parts: tuple[str, ...], rng: random.Random, topic: _Topic) -> str:
    """Fill a split template: even indices are literal text, odd ones slot names."""
    out: list[str] = []
    used: dict[str, str] = {}
    for i, part in enumerate(parts):
        if not i & 1:
            out.append(part)
            continue
        article = part.startswith("a_")
        kind = part[2:] if article else part
        base = kind.rstrip("0123456789")
        value = _pick(base, rng, topic)
        if base != kind and value == used.get(base):  # {x2}: try once for a different value
            value = _pick(base, rng, topic)
        used.setdefault(base, value)
        out.append(_article(value) if article else value)
    return "".join(out)


def _sentence(parts: tuple[str, ...], rng: random.Random, topic: _Topic) -> str:
    """One finished sentence: filled template, optional opener and tail (kept within
    _MAX_WORDS so lengths stay in a natural range), capitalised."""
    text = _fill(parts, rng, topic)
    if parts[0][:1].islower() and "," not in parts[0] and text[-1] == "." and rng.random() < 0.22:
        if rng.random() < 0.25:
            opener = _fill(rng.choice(_OPENER_PARTS), rng, topic)
        else:
            opener = rng.choice(_GENERAL["opener"])
        if len(text.split()) + len(opener.split()) <= _MAX_WORDS:
            text = f"{opener} {text}"
    if text[-1] == "." and ";" not in text and "Name" not in parts and rng.random() < 0.12:
        tail = _fill(rng.choice(_TAIL_PARTS), rng, topic)
        if len(text.split()) + len(tail.split()) <= _MAX_WORDS:
            text = text[:-1] + tail + "."
    return text[0].upper() + text[1:]


def _paragraph(seed: int, index: int) -> list[str]:
    """Paragraph ``index`` of the stream for ``seed``; depends on nothing else (prefix-stable)."""
    rng = random.Random(f"ctxlab.prose:{seed}:{index}")
    topic = rng.choice(_TOPICS)
    picks = rng.sample(range(len(_TEMPLATES)), rng.randint(3, 7))  # no template twice per paragraph
    return [_sentence(_TEMPLATES[k], rng, topic) for k in picks]


def _take(num_words: int, seed: int) -> list[list[str]]:
    """Paragraphs (the last possibly cut short) up to the first sentence reaching num_words."""
    paragraphs: list[list[str]] = []
    total, index = 0, 0
    while total < num_words:
        current: list[str] = []
        paragraphs.append(current)
        for sentence in _paragraph(seed, index):
            current.append(sentence)
            total += len(sentence.split())
            if total >= num_words:
                break
        index += 1
    return paragraphs


def prose_sentences(num_words: int, seed: int = 0) -> list[str]:
    """Whole sentences totalling at least ``num_words`` words; a prefix of any longer request."""
    return [s for para in _take(num_words, seed) for s in para]


def prose_text(num_words: int, seed: int = 0) -> str:
    """The same sentences as :func:`prose_sentences`, as paragraphs of 3-7 sentences separated
    by blank lines (only the final paragraph may be shorter, because the stream is cut there)."""
    return "\n\n".join(" ".join(para) for para in _take(num_words, seed))
