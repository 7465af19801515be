"""What the apps share: one definition each of the things two or more of them need.

`shared.text` (characters XML cannot carry, control characters), `shared.guids` (the GUID
form callportal accepts), `shared.times` (reading written dates and times, and the rule
for times without an offset), `shared.paginators` (the admin's bounded counts) and
`shared.sql` (hand-written, prepared SQL for the hot lookups).

Every app may import it; it imports no app of the project (only Django and the standard
library), so it can never close an import cycle. `callportal/tests/test_layering.py`
checks both.
"""
