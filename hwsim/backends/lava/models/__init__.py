"""Lava Processes and ProcessModels. Kept in their own package because Lava's compiler, to
find ProcessModels, executes every module in a Process's directory: only ``core`` lives here."""
