"""Dataset readers: Karpathy caption jsons in their distributed layouts, class folders, COCO, image folders with sidecars."""
