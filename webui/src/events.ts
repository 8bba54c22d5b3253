// Typed events that view components send up to tr-app, which makes the RPCs.
// They bubble and are composed, so they cross the shadow roots in between.
import type { Stage } from "./gen/openlibrary/testing/v1/testing_pb.js";

const init = { bubbles: true, composed: true };

/** Add these refs (the add form). */
export class AddEvent extends Event {
  static readonly type = "tr-add";
  constructor(readonly refs: string[]) {
    super(AddEvent.type, init);
  }
}

/** Stage a change on these rows: one StagePRs call. */
export class StageEvent extends Event {
  static readonly type = "tr-stage";
  constructor(readonly numbers: number[], readonly stage: Stage) {
    super(StageEvent.type, init);
  }
}

/** Remove these rows: one RemovePRs call. */
export class RemoveEvent extends Event {
  static readonly type = "tr-remove";
  constructor(readonly numbers: number[]) {
    super(RemoveEvent.type, init);
  }
}

/** Undo the removal of these rows: one RestorePRs call. */
export class RestoreEvent extends Event {
  static readonly type = "tr-restore";
  constructor(readonly numbers: number[]) {
    super(RestoreEvent.type, init);
  }
}

/** A row's checkbox was clicked (shift = extend the range from the last click). */
export class SelectEvent extends Event {
  static readonly type = "tr-select";
  constructor(readonly number: number, readonly selected: boolean, readonly shift: boolean) {
    super(SelectEvent.type, init);
  }
}

declare global {
  interface HTMLElementEventMap {
    "tr-add": AddEvent;
    "tr-stage": StageEvent;
    "tr-remove": RemoveEvent;
    "tr-restore": RestoreEvent;
    "tr-select": SelectEvent;
  }
}
