"""Generates one sentence pair of `translation_pairs` with numpy alone: an English-like sentence and its translation.

The source language is a small English: subject, verb, object (SVO), adjectives before the noun,
prepositions, "do"-support in negation and English's irregular plurals and past tenses. The
target language is invented, with the structure of many real ones:

  - the verb comes last (SOV): "the dog sees the cat" is "kano lo misa la vidat";
  - a noun phrase is mirrored: the noun first, then its adjectives in reverse order, then the
    article; "the big red dogs" is "kanon ruboi grandoi loi";
  - a prepositional phrase becomes a postpositional one and moves in front of the object:
    "... sees the cat in the garden" is "... horto lo eno misa la vidat";
  - agreement: every noun has a gender (m or f, unrelated to English), and adjectives and the
    definite article end by gender and number (grando, granda, grandoi, grandai); the verb ends
    by the subject's person and number (vidam i, vidas you, vidat he/she/it, vidamo we, vidant they),
    with a vowel for the tense (vidat sees, vidit saw); "not" becomes "ne" before the verb;
  - "i", "you" and "we" are dropped, the verb's ending says who acts; "he", "she" and "they" stay;
    the indefinite article "a"/"an" has no translation;
  - irregular forms on both sides: men / omi, children / ninei, houses / domesi, ate / edit,
    went / fue, and the suppletive verb "go" (va goes, fue went);
  - a relative clause ("the dog that chased a cat") goes in front of its noun, verb last, closed
    by "ke": "misa kasit ke kano lo";
  - "and" and "but" join two clauses in order, while "because" and "when" put the subordinate
    clause first and end it with "kar" or "kvan".
Two pairs this module generates (examples 15 and 454 of the training split):

  the big wolves that help an old child walked near the red brave garden .
  nino veto ajutant ke lupon grandoi loi horto bravo rubo lo apud pasint .

  we swam because three women took a man .
  feman tri omo presint kar natimo .

Word-by-word copying with a dictionary gets the order wrong in most sentences, and the endings
need the subject, or the noun, which may be several words away, so a model must read the whole
sentence. Sentences are 3 to 30 tokens long on both sides; punctuation is a token of its own.
Word lists and inflections are module constants and functions for tests and analyses to import.
"""

import numpy as np

MIN_LENGTH, MAX_LENGTH = 3, 30
PERSONS = ('1sg', '2sg', '3sg', '1pl', '3pl')
TENSES = ('present', 'past')

# (singular, plural, target singular, target gender); subjects are animate, objects anything.
ANIMATE_NOUNS = (
    ('dog', 'dogs', 'kano', 'm'), ('cat', 'cats', 'misa', 'f'), ('bird', 'birds', 'avo', 'm'),
    ('horse', 'horses', 'kavalo', 'm'), ('cow', 'cows', 'vaka', 'f'), ('mouse', 'mice', 'muro', 'm'),
    ('wolf', 'wolves', 'lupo', 'm'), ('goose', 'geese', 'ansa', 'f'), ('man', 'men', 'omo', 'm'),
    ('woman', 'women', 'fema', 'f'), ('child', 'children', 'nino', 'm'), ('girl', 'girls', 'pula', 'f'),
    ('boy', 'boys', 'pulo', 'm'), ('teacher', 'teachers', 'doka', 'f'), ('farmer', 'farmers', 'agro', 'm'),
    ('king', 'kings', 'rego', 'm'), ('queen', 'queens', 'regina', 'f'), ('friend', 'friends', 'amiko', 'm'),
    ('doctor', 'doctors', 'medika', 'f'), ('baker', 'bakers', 'panero', 'm'),
)
THING_NOUNS = (
    ('house', 'houses', 'doma', 'f'), ('garden', 'gardens', 'horto', 'm'), ('tree', 'trees', 'arbo', 'm'),
    ('river', 'rivers', 'riva', 'f'), ('table', 'tables', 'tabla', 'f'), ('box', 'boxes', 'kesto', 'm'),
    ('book', 'books', 'libro', 'm'), ('apple', 'apples', 'pomo', 'm'), ('ball', 'balls', 'bola', 'f'),
    ('car', 'cars', 'karo', 'm'), ('bridge', 'bridges', 'ponto', 'm'), ('road', 'roads', 'via', 'f'),
    ('forest', 'forests', 'silva', 'f'), ('hill', 'hills', 'kolo', 'm'), ('letter', 'letters', 'letra', 'f'),
    ('cake', 'cakes', 'torta', 'f'), ('stone', 'stones', 'petra', 'f'), ('knife', 'knives', 'kultelo', 'm'),
    ('leaf', 'leaves', 'folia', 'f'), ('boat', 'boats', 'navo', 'm'),
)
NOUNS = ANIMATE_NOUNS + THING_NOUNS
# A target plural adds 'n' to the singular, except these.
TARGET_IRREGULAR_PLURALS = {'omo': 'omi', 'nino': 'ninei', 'doma': 'domesi', 'navo': 'navi'}

# (English, target stem); the target adds an ending for the noun's gender and number.
ADJECTIVES = (
    ('big', 'grand'), ('small', 'pik'), ('old', 'vet'), ('young', 'jun'), ('red', 'rub'), ('green', 'verd'),
    ('black', 'nigr'), ('white', 'blank'), ('happy', 'fel'), ('sad', 'trist'), ('tall', 'alt'),
    ('quick', 'rapid'), ('slow', 'lent'), ('hungry', 'famid'), ('tired', 'las'), ('brave', 'brav'),
    ('clever', 'sag'), ('quiet', 'kvet'), ('strong', 'fort'), ('pretty', 'bel'),
)
# (gender, plural) -> the adjective's ending and the definite article.
ADJECTIVE_ENDINGS = {('m', False): 'o', ('f', False): 'a', ('m', True): 'oi', ('f', True): 'ai'}
DEFINITE_ARTICLES = {('m', False): 'lo', ('f', False): 'la', ('m', True): 'loi', ('f', True): 'lai'}
# English plural determiners without a definite meaning, and their target words.
PLURAL_DETERMINERS = {'some': 'pau', 'two': 'du', 'three': 'tri'}

# (base, third person singular, past, target stem).
TRANSITIVE_VERBS = (
    ('see', 'sees', 'saw', 'vid'), ('eat', 'eats', 'ate', 'manj'), ('find', 'finds', 'found', 'trov'),
    ('chase', 'chases', 'chased', 'kas'), ('like', 'likes', 'liked', 'am'), ('carry', 'carries', 'carried', 'port'),
    ('watch', 'watches', 'watched', 'spekt'), ('follow', 'follows', 'followed', 'sekv'),
    ('help', 'helps', 'helped', 'ajut'), ('hold', 'holds', 'held', 'ten'), ('open', 'opens', 'opened', 'aper'),
    ('build', 'builds', 'built', 'konstru'), ('paint', 'paints', 'painted', 'pikt'),
    ('take', 'takes', 'took', 'pren'), ('want', 'wants', 'wanted', 'vol'), ('know', 'knows', 'knew', 'sap'),
)
INTRANSITIVE_VERBS = (
    ('sleep', 'sleeps', 'slept', 'dorm'), ('run', 'runs', 'ran', 'kur'), ('walk', 'walks', 'walked', 'pas'),
    ('sing', 'sings', 'sang', 'kant'), ('laugh', 'laughs', 'laughed', 'rid'), ('wait', 'waits', 'waited', 'atend'),
    ('swim', 'swims', 'swam', 'nat'), ('go', 'goes', 'went', 'ir'), ('come', 'comes', 'came', 'ven'),
)
VERBS = TRANSITIVE_VERBS + INTRANSITIVE_VERBS
# A target verb is stem + tense vowel + person ending, except for these past stems and "ir" (go).
TENSE_VOWELS = {'present': 'a', 'past': 'i'}
PERSON_ENDINGS = dict(zip(PERSONS, ('m', 's', 't', 'mo', 'nt')))
TARGET_IRREGULAR_PAST_STEMS = {'manj': 'ed', 'pren': 'pres', 'ven': 'vin'}
TARGET_SUPPLETIVE_VERBS = {'ir': {'present': dict(zip(PERSONS, ('vado', 'vas', 'va', 'imo', 'van'))),
                                  'past': dict(zip(PERSONS, ('fui', 'fuis', 'fue', 'fuimo', 'fuen')))}}

# (English pronoun, person, target pronoun); '' where the target drops it.
PRONOUNS = (('i', '1sg', ''), ('you', '2sg', ''), ('he', '3sg', 'ilo'), ('she', '3sg', 'ila'),
            ('we', '1pl', ''), ('they', '3pl', 'ilei'))
PREPOSITIONS = {'in': 'eno', 'on': 'supa', 'near': 'apud', 'under': 'sub', 'behind': 'post', 'with': 'kum'}
COORDINATORS = {'and': 'e', 'but': 'sed'}  # the clauses keep their order
SUBORDINATORS = {'because': 'kar', 'when': 'kvan'}  # the subordinate clause comes first in the target
RELATIVE, NEGATION = 'ke', 'ne'

PRONOUN_PROBABILITY = 0.3
RELATIVE_CLAUSE_PROBABILITY = 0.25
TRANSITIVE_PROBABILITY = 0.7
NEGATION_PROBABILITY = 0.2
PREPOSITION_PROBABILITY = 0.35
TWO_CLAUSES_PROBABILITY = 0.35

# A phrase in both languages: (source words, target words).
Phrase = tuple[list[str], list[str]]


def target_noun(noun: tuple, plural: bool) -> str:
  singular = noun[2]
  return TARGET_IRREGULAR_PLURALS.get(singular, singular + 'n') if plural else singular


def target_adjective(stem: str, gender: str, plural: bool) -> str:
  return stem + ADJECTIVE_ENDINGS[gender, plural]


def target_verb(stem: str, tense: str, person: str) -> str:
  if stem in TARGET_SUPPLETIVE_VERBS:
    return TARGET_SUPPLETIVE_VERBS[stem][tense][person]
  if tense == 'past':
    stem = TARGET_IRREGULAR_PAST_STEMS.get(stem, stem)
  return stem + TENSE_VOWELS[tense] + PERSON_ENDINGS[person]


def indefinite_article(next_word: str) -> str:
  return 'an' if next_word[0] in 'aeiou' else 'a'


def pick(rng: np.random.Generator, items):
  return items[rng.integers(len(items))]


def noun_phrase(rng: np.random.Generator, nouns) -> tuple[Phrase, str]:
  """'[det] [adj [adj]] noun' and its mirror 'noun [adj [adj]] [det]', with the person it agrees with."""
  noun = pick(rng, nouns)
  plural = rng.random() < 0.4
  gender = noun[3]
  chosen = [ADJECTIVES[i] for i in rng.permutation(len(ADJECTIVES))[:rng.choice(3, p=(0.45, 0.4, 0.15))]]
  source = [english for english, _ in chosen] + [noun[1] if plural else noun[0]]
  target = [target_noun(noun, plural)] + [target_adjective(stem, gender, plural) for _, stem in chosen[::-1]]
  if rng.random() < 0.5:
    source, target = ['the'] + source, target + [DEFINITE_ARTICLES[gender, plural]]
  elif plural:
    determiner = pick(rng, (*PLURAL_DETERMINERS, ''))
    if determiner:
      source, target = [determiner] + source, target + [PLURAL_DETERMINERS[determiner]]
  else:
    source = [indefinite_article(source[0])] + source
  return (source, target), '3pl' if plural else '3sg'


def verb_phrase(rng: np.random.Generator, person: str, tense: str, negated: bool,
                object_phrase: Phrase | None) -> Phrase:
  """English 'verb [object]' (or 'do not verb [object]'); the target '[object] [ne] verb'."""
  base, third, past, stem = pick(rng, TRANSITIVE_VERBS if object_phrase else INTRANSITIVE_VERBS)
  if negated:
    auxiliary = 'did' if tense == 'past' else 'does' if person == '3sg' else 'do'
    source = [auxiliary, 'not', base]
  else:
    source = [past if tense == 'past' else third if person == '3sg' else base]
  target = ([NEGATION] if negated else []) + [target_verb(stem, tense, person)]
  object_source, object_target = object_phrase or ([], [])
  return source + object_source, object_target + target


def subject(rng: np.random.Generator) -> tuple[Phrase, str]:
  """A pronoun, or an animate noun phrase perhaps with a relative clause, and its person."""
  if rng.random() < PRONOUN_PROBABILITY:
    english, person, target = pick(rng, PRONOUNS)
    return ([english], [target] if target else []), person
  (source, target), person = noun_phrase(rng, ANIMATE_NOUNS)
  if rng.random() < RELATIVE_CLAUSE_PROBABILITY:
    object_phrase = noun_phrase(rng, NOUNS)[0] if rng.random() < TRANSITIVE_PROBABILITY else None
    verb_source, verb_target = verb_phrase(rng, person, pick(rng, TENSES), False, object_phrase)
    # "the dog that chased a cat" -> "misa kasit ke kano lo": the clause before its noun.
    source, target = source + ['that'] + verb_source, verb_target + [RELATIVE] + target
  return (source, target), person


def clause(rng: np.random.Generator) -> Phrase:
  """English 'subject verb [object] [preposition noun]'; the target 'subject [noun postposition] [object] verb'."""
  (subject_source, subject_target), person = subject(rng)
  object_phrase = noun_phrase(rng, NOUNS)[0] if rng.random() < TRANSITIVE_PROBABILITY else None
  negated = rng.random() < NEGATION_PROBABILITY
  verb_source, verb_target = verb_phrase(rng, person, pick(rng, TENSES), negated, object_phrase)
  place_source, place_target = [], []
  if rng.random() < PREPOSITION_PROBABILITY:
    preposition = pick(rng, tuple(PREPOSITIONS))
    (noun_source, noun_target), _ = noun_phrase(rng, THING_NOUNS)
    place_source, place_target = [preposition] + noun_source, noun_target + [PREPOSITIONS[preposition]]
  return subject_source + verb_source + place_source, subject_target + place_target + verb_target


def sentence(rng: np.random.Generator) -> Phrase:
  """One clause, or two joined by a conjunction, and a full stop."""
  source, target = clause(rng)
  if rng.random() < TWO_CLAUSES_PROBABILITY:
    (second_source, second_target), conjunction = clause(rng), pick(rng, (*COORDINATORS, *SUBORDINATORS))
    source = source + [conjunction] + second_source
    if conjunction in COORDINATORS:
      target = target + [COORDINATORS[conjunction]] + second_target
    else:
      target = second_target + [SUBORDINATORS[conjunction]] + target
  return source + ['.'], target + ['.']


def pair(rng: np.random.Generator) -> dict:
  """{'source', 'target'}: a sentence whose both sides are MIN_LENGTH to MAX_LENGTH tokens long."""
  while True:
    source, target = sentence(rng)
    if all(MIN_LENGTH <= len(words) <= MAX_LENGTH for words in (source, target)):
      return {'source': ' '.join(source), 'target': ' '.join(target)}
