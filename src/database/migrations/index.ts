import { InitialSchema1764230400000 } from './1764230400000-initial-schema';
import { UserDeletedNotify1765065600000 } from './1765065600000-user-deleted-notify';
import { ReadState1765152000000 } from './1765152000000-read-state';
import { RolesDirect1765238400000 } from './1765238400000-roles-direct';
import { MessageRevisions1765324800000 } from './1765324800000-message-revisions';

/** Every migration, oldest first. Listed explicitly so the build needs no glob at run time. */
export const MIGRATIONS = [
  InitialSchema1764230400000,
  UserDeletedNotify1765065600000,
  ReadState1765152000000,
  RolesDirect1765238400000,
  MessageRevisions1765324800000,
];
