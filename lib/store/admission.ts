/**
 * The two views of a backend's stores (lib/store/types.ts): admitted, every call behind the gate
 * of one admission, and unchecked, no gate. A view holds the admission (or none) and hands it to
 * the backend's action as its first argument, so the check is chosen by which view the caller
 * holds, never by an argument a caller could leave out. The same views serve both backends.
 *
 * Cheap by design: the unchecked view is made once per backend; an admitted view, made once per
 * request, is five small objects that each hold two references, with no I/O and no closures.
 */
import type { ConnectionStore } from './connections.ts';
import type {
  Actions,
  Admission,
  AdmittedStores,
  CommandStore,
  GroupStore,
  JobStore,
  RevocationActions,
  RevocationStore,
  RevocationWrites,
  StoreBackend,
  Stores,
  UncheckedGroupStore,
  UncheckedStores,
} from './types.ts';

/** The stores of `backend`, in both views. */
export function storeViews(backend: StoreBackend): Stores {
  const unchecked: UncheckedStores = {
    commands: new CommandView(backend.commands, undefined),
    groups: new GroupView(backend.groups, undefined),
    jobs: new JobView(backend.jobs, undefined),
    revocations: new RevocationView(backend.revocations, undefined),
    connections: new ConnectionView(backend.connections, undefined),
  };
  return { unchecked, admitted: (admission) => new AdmittedView(backend, admission) };
}

class AdmittedView implements AdmittedStores {
  readonly commands: CommandStore;
  readonly groups: GroupStore;
  readonly jobs: JobStore;
  readonly revocations: RevocationWrites;
  readonly connections: ConnectionStore;
  private readonly gate: RevocationActions;
  private readonly admission: Admission;

  constructor(backend: StoreBackend, admission: Admission) {
    this.commands = new CommandView(backend.commands, admission);
    this.groups = new GroupView(backend.groups, admission);
    this.jobs = new JobView(backend.jobs, admission);
    this.revocations = new RevocationView(backend.revocations, admission);
    this.connections = new ConnectionView(backend.connections, admission);
    this.gate = backend.revocations;
    this.admission = admission;
  }

  admit(): Promise<void> {
    return this.gate.admit(this.admission);
  }
}

class CommandView implements CommandStore {
  private readonly actions: Actions<CommandStore>;
  private readonly admission: Admission | undefined;

  constructor(actions: Actions<CommandStore>, admission: Admission | undefined) {
    this.actions = actions;
    this.admission = admission;
  }

  enqueue(...args: Parameters<CommandStore['enqueue']>) {
    return this.actions.enqueue(this.admission, ...args);
  }
  fetch(...args: Parameters<CommandStore['fetch']>) {
    return this.actions.fetch(this.admission, ...args);
  }
  complete(...args: Parameters<CommandStore['complete']>) {
    return this.actions.complete(this.admission, ...args);
  }
  cancel(...args: Parameters<CommandStore['cancel']>) {
    return this.actions.cancel(this.admission, ...args);
  }
  get(...args: Parameters<CommandStore['get']>) {
    return this.actions.get(this.admission, ...args);
  }
  getDetail(...args: Parameters<CommandStore['getDetail']>) {
    return this.actions.getDetail(this.admission, ...args);
  }
  list(...args: Parameters<CommandStore['list']>) {
    return this.actions.list(this.admission, ...args);
  }
  getConfig(...args: Parameters<CommandStore['getConfig']>) {
    return this.actions.getConfig(this.admission, ...args);
  }
  putConfig(...args: Parameters<CommandStore['putConfig']>) {
    return this.actions.putConfig(this.admission, ...args);
  }
  /** Never gated (CommandStore.signExecutions says why). */
  signExecutions(...args: Parameters<CommandStore['signExecutions']>) {
    return this.actions.signExecutions(undefined, ...args);
  }
}

class GroupView implements UncheckedGroupStore {
  private readonly actions: Actions<UncheckedGroupStore>;
  private readonly admission: Admission | undefined;

  constructor(actions: Actions<UncheckedGroupStore>, admission: Admission | undefined) {
    this.actions = actions;
    this.admission = admission;
  }

  /** Admitted, the join is at the admission's `now` (the admitted type takes none); unchecked, at `now` or the wall clock. */
  join(group: string, agentId: string, now?: number) {
    return this.actions.join(this.admission, group, agentId, now ?? this.admission?.now);
  }
  change(group: string, changes: Parameters<UncheckedGroupStore['change']>[1], now?: number) {
    return this.actions.change(this.admission, group, changes, now ?? this.admission?.now);
  }
  leave(...args: Parameters<UncheckedGroupStore['leave']>) {
    return this.actions.leave(this.admission, ...args);
  }
  members(...args: Parameters<UncheckedGroupStore['members']>) {
    return this.actions.members(this.admission, ...args);
  }
  groupsOf(...args: Parameters<UncheckedGroupStore['groupsOf']>) {
    return this.actions.groupsOf(this.admission, ...args);
  }
}

class JobView implements JobStore {
  private readonly actions: Actions<JobStore>;
  private readonly admission: Admission | undefined;

  constructor(actions: Actions<JobStore>, admission: Admission | undefined) {
    this.actions = actions;
    this.admission = admission;
  }

  create(...args: Parameters<JobStore['create']>) {
    return this.actions.create(this.admission, ...args);
  }
  dryRun(...args: Parameters<JobStore['dryRun']>) {
    return this.actions.dryRun(this.admission, ...args);
  }
  get(...args: Parameters<JobStore['get']>) {
    return this.actions.get(this.admission, ...args);
  }
  list(...args: Parameters<JobStore['list']>) {
    return this.actions.list(this.admission, ...args);
  }
  executions(...args: Parameters<JobStore['executions']>) {
    return this.actions.executions(this.admission, ...args);
  }
  execution(...args: Parameters<JobStore['execution']>) {
    return this.actions.execution(this.admission, ...args);
  }
  cancel(...args: Parameters<JobStore['cancel']>) {
    return this.actions.cancel(this.admission, ...args);
  }
  pause(...args: Parameters<JobStore['pause']>) {
    return this.actions.pause(this.admission, ...args);
  }
}

/** The admitted type shows the writes alone; isRevoked and registerToken take no gate in either view. */
class RevocationView implements RevocationStore {
  private readonly actions: RevocationActions;
  private readonly admission: Admission | undefined;

  constructor(actions: RevocationActions, admission: Admission | undefined) {
    this.actions = actions;
    this.admission = admission;
  }

  revokeToken(jti: string, expiresAt: number) {
    return this.actions.revokeToken(this.admission, jti, expiresAt);
  }
  revokeSubject(sub: string, cutoff: number) {
    return this.actions.revokeSubject(this.admission, sub, cutoff);
  }
  isRevoked(...args: Parameters<RevocationStore['isRevoked']>) {
    return this.actions.isRevoked(...args);
  }
  registerToken(...args: Parameters<RevocationStore['registerToken']>) {
    return this.actions.registerToken(...args);
  }
}

class ConnectionView implements ConnectionStore {
  private readonly actions: Actions<ConnectionStore>;
  private readonly admission: Admission | undefined;

  constructor(actions: Actions<ConnectionStore>, admission: Admission | undefined) {
    this.actions = actions;
    this.admission = admission;
  }

  register(...args: Parameters<ConnectionStore['register']>) {
    return this.actions.register(this.admission, ...args);
  }
  remove(...args: Parameters<ConnectionStore['remove']>) {
    return this.actions.remove(this.admission, ...args);
  }
  ofAgents(...args: Parameters<ConnectionStore['ofAgents']>) {
    return this.actions.ofAgents(this.admission, ...args);
  }
  byJti(...args: Parameters<ConnectionStore['byJti']>) {
    return this.actions.byJti(this.admission, ...args);
  }
}
