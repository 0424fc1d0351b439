"""creditflow learner-record: each learner's Comprehensive Learner Record, projected from the event stream."""
