"""Generates one review of the `reviews` dataset with numpy alone: text, sentiment and sentence form.

The sentiment of a review depends on word order, so a bag of words cannot read it:
  - negation flips a judgement: "the plot was not bad" is positive;
  - a contrast keeps the judgement of its main clause: "the acting was great but the story was
    dull" is negative, and the same words as "the story was dull but the acting was great" are
    positive; "X , even though Y" keeps X, the clause that comes first.
Half of all reviews are contrasts, and every contrast is as likely as its swapped twin with the
opposite label, so on them any order-blind model is at chance (50%), while a sequence model can
be right on all. Word lists and templates are module constants for tests and analyses to import.
"""

import numpy as np

SENTIMENTS = ('negative', 'positive')
FORMS = ('single', 'agree', 'contrast')
FORM_PROBABILITIES = (0.3, 0.2, 0.5)
NEGATION_PROBABILITY = 0.35

ASPECTS = ('film', 'movie', 'plot', 'story', 'acting', 'cast', 'script', 'dialogue', 'music',
           'soundtrack', 'ending', 'pacing', 'direction', 'camera work', 'humour', 'lead')
ADJECTIVES = (
    ('bad', 'awful', 'terrible', 'boring', 'dull', 'weak', 'poor', 'clumsy', 'predictable',
     'tedious', 'messy', 'bland'),
    ('good', 'great', 'excellent', 'wonderful', 'brilliant', 'superb', 'fun', 'clever', 'moving',
     'gripping', 'charming', 'beautiful'),
)
INTENSIFIERS = ('', '', 'really', 'very', 'quite', 'truly')
OPENINGS = ('', '', 'i saw this last night .', 'we watched it at home .', 'my friend picked this one .',
            'i had heard a lot about it .', 'so here is my review .')
CLOSINGS = ('', '', 'that is all i can say .', 'make of that what you will .', 'see it for yourself .')
# (template, which clause decides the label): the main clause of the contrast.
CONTRASTS = (
    ('{0} but {1} .', 1),
    ('{0} , however {1} .', 1),
    ('although {0} , {1} .', 1),
    ('{0} , even though {1} .', 0),
)


def clause(rng: np.random.Generator, sentiment: int) -> str:
  """'the <aspect> was [not] [very] <adjective>' judging the film as `sentiment` (0 or 1)."""
  negated = rng.random() < NEGATION_PROBABILITY
  adjective = rng.choice(ADJECTIVES[sentiment ^ negated])
  words = ['the', rng.choice(ASPECTS), rng.choice(('was', 'is')), 'not' if negated else '',
           rng.choice(INTENSIFIERS), adjective]
  return ' '.join(w for w in words if w)


def review(rng: np.random.Generator) -> dict:
  """{'text', 'label' (index into SENTIMENTS), 'form' (index into FORMS)}."""
  label = int(rng.integers(2))
  form = int(rng.choice(len(FORMS), p=FORM_PROBABILITIES))
  if form == 0:
    body = clause(rng, label) + ' .'
  elif form == 1:
    body = f'{clause(rng, label)} and {clause(rng, label)} .'
  else:
    template, main = CONTRASTS[rng.integers(len(CONTRASTS))]
    clauses = [clause(rng, label), clause(rng, 1 - label)]
    body = template.format(*(clauses if main == 0 else clauses[::-1]))
  text = ' '.join(part for part in (rng.choice(OPENINGS), body, rng.choice(CLOSINGS)) if part)
  return {'text': text, 'label': label, 'form': form}
