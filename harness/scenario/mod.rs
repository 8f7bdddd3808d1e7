//! Scenario files: parse, validate, and expand into a lab plan, a client profile and expectations.
