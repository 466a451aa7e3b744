"""The grades admin (``docs/grades.md``).

- ``GET /admin/grades`` → the chosen service; ``GET /admin/grades/{service}`` (grades.view):
  the rule set, members per grade; ``POST …/rules`` (grades.manage): replace the rule set;
  ``POST …/recompute`` (grades.manage): regrade every member now and show the counts;
- on the CS member page: ``POST /admin/members/{service}/{external_id}/grade-override`` and
  ``…/grade-override/clear`` (grades.override).

Every change writes one audit row (``grades.*``). The routes are assembled in ``routes``
(this package stays import-free: the desk's member page imports ``member_section``).
"""
