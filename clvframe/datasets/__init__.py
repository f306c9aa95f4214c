"""Data sets that ship with clvframe (the CDNOW log)."""
