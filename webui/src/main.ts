// The production entry: talks Connect (JSON) to the testingd that served this
// page. The API lives beside the page, so its URL comes from document.baseURI:
// the UI works under any --base-path.
import { createConnectTransport } from "@connectrpc/connect-web";
import { mount } from "./mount.js";

mount(
  createConnectTransport({
    baseUrl: new URL(".", document.baseURI).href,
    useBinaryFormat: false,
  }),
);
