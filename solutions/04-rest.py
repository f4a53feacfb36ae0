"""Solutions to the exercises of notebooks/04-rest.ipynb."""

# %% Exercise 04.1: one request for the order screen
from fastapi import FastAPI, HTTPException

from labs.clients.ticketing import NotFound


def make_screen_api(shop) -> FastAPI:
    api = FastAPI(title="order screen")

    @api.get("/screens/orders/{order_id}")
    def order_screen(order_id: str) -> dict:
        try:
            order = shop.get_order(order_id)
        except NotFound as err:
            raise HTTPException(404, err.message) from None
        # The two look-ups happen here, next to the services, instead of on the user's phone.
        user, concert = shop.get_user(order.user_id), shop.get_concert(order.concert_id)
        return {"order_id": order.id, "status": order.status, "amount": order.amount, "user_name": user.name,
                "concert_title": concert.title, "seats_left": concert.seats_left}

    return api
