// mount puts the app on the page with the one transport it will use: the real
// Connect transport in main.ts, an in-memory fake in the component tests.
import { createClient, type Transport } from "@connectrpc/connect";
import { TestingService } from "./gen/openlibrary/testing/v1/testing_pb.js";
import { TrApp } from "./tr-app.js";

export function mount(transport: Transport, parent: HTMLElement = document.body): TrApp {
  const app = new TrApp();
  app.client = createClient(TestingService, transport);
  parent.replaceChildren(app);
  return app;
}
