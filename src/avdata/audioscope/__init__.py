"""AudioScope / AudioScopeV2 / MixIT recipes: windows from a user's own videos, ratings to
unanimous subsets, audio-visual coincidence scores, mixture-of-mixtures pairs (one module each)."""
