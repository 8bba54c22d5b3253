// The component-test page: the real app, mounted on the fake testingd. The test
// sets window.__scenario (an init script) before this runs; window.fake is the
// handle the test drives.
import { mount } from "../src/mount.js";
import { Fake, type Scenario } from "./fake-server.js";

declare global {
  interface Window {
    __scenario?: Scenario;
    fake: Fake;
  }
}

const fake = new Fake(window.__scenario ?? {});
window.fake = fake;
mount(fake.transport());
