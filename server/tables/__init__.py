"""The ground floor: every domain's Piccolo tables, one module per domain.

Tables import only Piccolo and each other (for foreign keys); every other module of ``server``
may import them. See ``docs/architecture.md``.
"""
