"""What users run with a trained model: predict (and at screening scale), evaluate, embed, explain, screen
perovskites, the demo."""
