//! The egresslab certificate factory: lab CAs and leaf certificates from named profiles.
