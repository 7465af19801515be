"""How long a phone number or extension may be: one definition for the numbers a call
carries (calls.models) and the extensions the directory gives its users (directory.models),
so that every number a call can carry can be owned, and no owned number is too long to
match a call."""

NUMBER_MAX_LENGTH = 64
