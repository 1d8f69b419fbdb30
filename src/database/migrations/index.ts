import { InitialSchema1764230400000 } from './1764230400000-initial-schema';

/** Every migration, oldest first. Listed explicitly so the build needs no glob at run time. */
export const MIGRATIONS = [InitialSchema1764230400000];
