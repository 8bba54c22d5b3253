// The one Connect client of the page, handed to components through @lit/context.
import type { Client } from "@connectrpc/connect";
import { createContext } from "@lit/context";
import type { TestingService } from "./gen/openlibrary/testing/v1/testing_pb.js";

export type TestingClient = Client<typeof TestingService>;

export const clientContext = createContext<TestingClient | undefined>(Symbol("testingd-client"));
