"""Data: where images come from (sources, archives), how they enter data/raw, each decoded once
(fetch), and the stratified split (split). No TensorFlow here."""
